using System.Runtime.InteropServices;
using System.Text;

namespace Hyprstream.Flight.Ipc;

/// <summary>
/// One column of a record batch: its length, null count and buffers (validity first; an empty validity buffer means
/// "no nulls"), plus the child array of a FixedSizeList. Buffers are memory slices: the writer copies them straight
/// into the transport, the reader slices them out of the received body.
/// </summary>
public sealed class ArrowArray(ArrowType type, int length, int nullCount, IReadOnlyList<ReadOnlyMemory<byte>> buffers, ArrowArray? child = null)
{
    public ArrowType Type { get; } = type;
    public int Length { get; } = length;
    public int NullCount { get; } = nullCount;
    public IReadOnlyList<ReadOnlyMemory<byte>> Buffers { get; } = buffers;
    public ArrowArray? Child { get; } = child;

    public bool IsValid(int i) => NullCount == 0 || Buffers[0].Length == 0 || (Buffers[0].Span[i >> 3] & (1 << (i & 7))) != 0;

    /// <summary>The values of a fixed-width column, reinterpreted (T must match the width).</summary>
    public ReadOnlySpan<T> Values<T>() where T : struct => MemoryMarshal.Cast<byte, T>(Buffers[1].Span)[..Length];

    public ReadOnlySpan<int> Offsets => MemoryMarshal.Cast<byte, int>(Buffers[1].Span)[..(Length + 1)];

    public ReadOnlySpan<byte> Bytes(int i)
    {
        var o = Offsets;
        return Buffers[2].Span[o[i]..o[i + 1]];
    }

    public string GetString(int i) => Encoding.UTF8.GetString(Bytes(i));

    // Builders for the types we write. Arrays are wrapped, not copied.
    public static ArrowArray Int32(int[] v, byte[]? validity = null, int nullCount = 0) => Fixed(ArrowType.Int32, v, validity, nullCount);
    public static ArrowArray Int64(long[] v, byte[]? validity = null, int nullCount = 0) => Fixed(ArrowType.Int64, v, validity, nullCount);
    public static ArrowArray Float32(float[] v, byte[]? validity = null, int nullCount = 0) => Fixed(ArrowType.Float32, v, validity, nullCount);
    public static ArrowArray Float16(Half[] v, byte[]? validity = null, int nullCount = 0) => Fixed(ArrowType.Float16, v, validity, nullCount);

    public static ArrowArray FromMemory(ArrowType type, int length, ReadOnlyMemory<byte> values) => new(type, length, 0, [ReadOnlyMemory<byte>.Empty, values]);

    private static ArrowArray Fixed<T>(ArrowType type, T[] values, byte[]? validity, int nullCount) where T : struct =>
        new(type, values.Length, nullCount, [validity ?? ReadOnlyMemory<byte>.Empty, new ArrayBytes<T>(values).Memory]);

    public static ArrowArray Utf8(IReadOnlyList<string?> values) => VarBinary(ArrowType.Utf8, values.Select(s => s == null ? null : Encoding.UTF8.GetBytes(s)).ToList());

    public static ArrowArray Binary(IReadOnlyList<byte[]?> values) => VarBinary(ArrowType.Binary, values);

    private static ArrowArray VarBinary(ArrowType type, IReadOnlyList<byte[]?> values)
    {
        var offsets = new int[values.Count + 1];
        var data = new MemoryStream();
        var validity = new byte[(values.Count + 7) / 8];
        int nulls = 0;
        for (int i = 0; i < values.Count; i++)
        {
            if (values[i] is { } b) { data.Write(b); validity[i >> 3] |= (byte)(1 << (i & 7)); }
            else nulls++;
            offsets[i + 1] = (int)data.Length;
        }
        return new ArrowArray(type, values.Count, nulls, [nulls == 0 ? ReadOnlyMemory<byte>.Empty : validity, new ArrayBytes<int>(offsets).Memory, data.ToArray()]);
    }

    /// <summary>FixedSizeList&lt;Float32&gt;: <paramref name="values"/> holds length × listSize floats.</summary>
    public static ArrowArray FixedSizeListFloat32(int listSize, float[] values)
    {
        if (listSize <= 0 || values.Length % listSize != 0) throw new ArgumentException("values must hold a whole number of lists");
        var child = Float32(values);
        return new ArrowArray(ArrowType.FixedSizeList(listSize, ArrowType.Float32), values.Length / listSize, 0, [ReadOnlyMemory<byte>.Empty], child);
    }
}

/// <summary>Views a T[] as bytes without copying (the array stays the owner).</summary>
public sealed class ArrayBytes<T>(T[] array) : System.Buffers.MemoryManager<byte> where T : struct
{
    public override Span<byte> GetSpan() => MemoryMarshal.AsBytes(array.AsSpan());
    public override System.Buffers.MemoryHandle Pin(int elementIndex = 0) => throw new NotSupportedException();
    public override void Unpin() { }
    protected override void Dispose(bool disposing) { }
}

using System.Text;
using Hyprstream.Flight.Ipc;
using Hyprstream.Runtime;

namespace Hyprstream.Service;

/// <summary>
/// Fills reusable arrays with up to <see cref="Capacity"/> weights and exposes them as one Arrow record batch
/// without copying; the transport copies the arrays to the wire, then the builder is reset for the next batch.
/// </summary>
internal sealed class WeightBatchBuilder(int capacity)
{
    private readonly int[] _rows = new int[capacity];
    private readonly int[] _cols = new int[capacity];
    private readonly float[] _values = new float[capacity];
    private readonly int[] _offsets = new int[capacity + 1];
    private byte[] _names = new byte[capacity * 32];
    private int _nameBytes;

    public int Capacity => capacity;
    public int Count { get; private set; }
    public bool Full => Count == capacity;

    /// <summary>Reads the next weights of a module straight into the batch arrays; returns how many (0: module done).</summary>
    public int Fill(ActiveWeightCursor cursor, byte[] module)
    {
        int free = capacity - Count;
        int n = cursor.Read(_rows.AsSpan(Count, free), _cols.AsSpan(Count, free), _values.AsSpan(Count, free));
        if (n == 0) return 0;
        int need = _nameBytes + n * module.Length;
        if (need > _names.Length) Array.Resize(ref _names, Math.Max(_names.Length * 2, need));
        var names = _names.AsSpan();
        for (int i = 0; i < n; i++)
        {
            module.CopyTo(names[_nameBytes..]);
            _nameBytes += module.Length;
            _offsets[Count + i + 1] = _nameBytes;
        }
        Count += n;
        return n;
    }

    public ArrowRecordBatch Build()
    {
        var n = Count;
        var module = new ArrowArray(ArrowType.Utf8, n, 0, [ReadOnlyMemory<byte>.Empty, Bytes(_offsets, n + 1), _names.AsMemory(0, _nameBytes)]);
        return new ArrowRecordBatch(WeightSchema.Schema, n, [
            module,
            ArrowArray.FromMemory(ArrowType.Int32, n, Bytes(_rows, n)),
            ArrowArray.FromMemory(ArrowType.Int32, n, Bytes(_cols, n)),
            ArrowArray.FromMemory(ArrowType.Float32, n, Bytes(_values, n)),
        ]);
    }

    public void Reset()
    {
        Count = 0;
        _nameBytes = 0;
    }

    private static ReadOnlyMemory<byte> Bytes<T>(T[] a, int n) where T : struct =>
        new ArrayBytes<T>(a).Memory[..(n * System.Runtime.CompilerServices.Unsafe.SizeOf<T>())];

    public static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
}

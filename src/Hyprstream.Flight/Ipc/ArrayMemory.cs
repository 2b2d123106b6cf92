using System.Buffers;
using System.Runtime.InteropServices;

namespace Hyprstream.Flight.Ipc;

/// <summary>The bytes of a managed array as Memory&lt;byte&gt;, so an Arrow buffer can wrap an array filled in place (no copy).</summary>
public sealed class ArrayMemory<T>(T[] array) : MemoryManager<byte> where T : struct
{
    public override Span<byte> GetSpan() => MemoryMarshal.AsBytes(array.AsSpan());

    public override MemoryHandle Pin(int elementIndex = 0)
    {
        var handle = GCHandle.Alloc(array, GCHandleType.Pinned);
        unsafe { return new MemoryHandle((byte*)handle.AddrOfPinnedObject() + elementIndex, handle); }
    }

    public override void Unpin() { }
    protected override void Dispose(bool disposing) { }

    /// <summary>The first <paramref name="count"/> elements' bytes as an Arrow buffer.</summary>
    public static Apache.Arrow.ArrowBuffer Buffer(T[] array, int count) =>
        new(new ArrayMemory<T>(array).Memory[..(count * System.Runtime.CompilerServices.Unsafe.SizeOf<T>())]);
}

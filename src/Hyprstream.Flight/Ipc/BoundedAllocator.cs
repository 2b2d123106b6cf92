using System.Buffers;
using Apache.Arrow.Memory;

namespace Hyprstream.Flight.Ipc;

/// <summary>
/// The allocator a received stream's buffers come from: pooled arrays (a body is overwritten whole as it is read,
/// so there is nothing to zero, and no native memory pressure to report — Apache.Arrow's default allocator does
/// both, which measured ~2× slower on a tile DoGet), with a ceiling per allocation. Message bodies and decompressed
/// buffers are allocated at sizes the sender declares: a 40-byte zstd buffer that claims 2 GB uncompressed is
/// refused here instead of being allocated.
/// </summary>
public sealed class BoundedAllocator(long maxBytes) : MemoryAllocator
{
    public long MaxBytes { get; } = maxBytes;

    protected override IMemoryOwner<byte> AllocateInternal(int length, out int bytesAllocated)
    {
        if (length > MaxBytes)
            throw new InvalidDataException($"an Arrow buffer of {length:N0} bytes was declared; this reader allows at most {MaxBytes:N0} per buffer");
        bytesAllocated = length;
        return new Rented(length);
    }

    private sealed class Rented(int length) : IMemoryOwner<byte>
    {
        private byte[]? _array = ArrayPool<byte>.Shared.Rent(length);

        public Memory<byte> Memory => (_array ?? throw new ObjectDisposedException(nameof(Rented))).AsMemory(0, length);

        public void Dispose()
        {
            var a = Interlocked.Exchange(ref _array, null);
            if (a != null) ArrayPool<byte>.Shared.Return(a);
        }
    }
}

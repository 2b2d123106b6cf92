using System.Buffers;
using Apache.Arrow.Memory;

namespace Hyprstream.Flight.Ipc;

/// <summary>
/// Apache.Arrow's native allocator with a ceiling per allocation. Message bodies and decompressed buffers are
/// allocated at sizes the sender declares: a 40-byte zstd buffer that claims 2 GB uncompressed is refused here
/// instead of being allocated.
/// </summary>
public sealed class BoundedAllocator(long maxBytes) : NativeMemoryAllocator
{
    public long MaxBytes { get; } = maxBytes;

    protected override IMemoryOwner<byte> AllocateInternal(int length, out int bytesAllocated)
    {
        if (length > MaxBytes)
            throw new InvalidDataException($"an Arrow buffer of {length:N0} bytes was declared; this reader allows at most {MaxBytes:N0} per buffer");
        return base.AllocateInternal(length, out bytesAllocated);
    }
}

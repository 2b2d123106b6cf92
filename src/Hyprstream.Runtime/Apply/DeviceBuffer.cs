using Hyprstream.Interop.Cuda;

namespace Hyprstream.Runtime.Apply;

/// <summary>
/// A block of CUDA device memory owned by the caller (freed on dispose or finalization), made by
/// <see cref="CudaDiagnostics"/> and passed to the device-resident calls of <see cref="CudaApplier"/>.
/// </summary>
public sealed class DeviceBuffer : IDisposable
{
    private readonly CudaMemoryHandle _memory;
    internal DeviceBuffer(CudaMemoryHandle memory) => _memory = memory;

    /// <summary>The device address (for diagnostics output; the API takes the buffer itself).</summary>
    public ulong Pointer => _memory.Pointer;
    public long Bytes => _memory.Bytes;
    public void Dispose() => _memory.Dispose();

    /// <summary>The address, checked to hold at least <paramref name="bytes"/> bytes and not to be disposed.</summary>
    internal ulong At(long bytes, string what)
    {
        ObjectDisposedException.ThrowIf(_memory.IsClosed, this);
        if (bytes > Bytes) throw new ArgumentException($"{what} needs {bytes} bytes of device memory, the buffer has {Bytes}");
        return _memory.Pointer;
    }
}

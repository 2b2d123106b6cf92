using Hyprstream.Interop.Cuda;

namespace Hyprstream.Runtime;

/// <summary>A block of CUDA device memory owned by the caller (freed on dispose or finalization).</summary>
internal sealed class DeviceBuffer(CudaMemoryHandle memory) : IDisposable
{
    public ulong Pointer => memory.Pointer;
    public long Bytes => memory.Bytes;
    public void Dispose() => memory.Dispose();
}

using System.Runtime.InteropServices;

namespace Hyprstream.Interop.Cuda;

/// <summary>
/// Our own bindings on the CUDA driver API (libcuda.so.1; ManagedCuda is not obtainable). Names are the exact exported
/// symbols (the _v2 ones where the driver versions them). Every function returns a CUresult (0 = success);
/// <see cref="CudaStatus.Check"/> turns one into an exception carrying the driver's own name and text.
/// </summary>
internal static unsafe partial class Cu
{
    public const string Lib = "cuda";

    public const int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
    public const int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
    public const int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
    public const uint CU_STREAM_DEFAULT = 0;
    public const uint CU_STREAM_NON_BLOCKING = 1;
    public const uint CU_EVENT_DEFAULT = 0;

    [LibraryImport(Lib)] internal static partial int cuInit(uint flags);
    [LibraryImport(Lib)] internal static partial int cuDriverGetVersion(out int version);
    [LibraryImport(Lib)] internal static partial int cuDeviceGetCount(out int count);
    [LibraryImport(Lib)] internal static partial int cuDeviceGet(out int device, int ordinal);
    [LibraryImport(Lib)] internal static partial int cuDeviceGetName(byte* name, int length, int device);
    [LibraryImport(Lib)] internal static partial int cuDeviceGetAttribute(out int value, int attribute, int device);
    [LibraryImport(Lib)] internal static partial int cuDeviceTotalMem_v2(out nuint bytes, int device);
    [LibraryImport(Lib)] internal static partial int cuDevicePrimaryCtxRetain(out nint context, int device);
    [LibraryImport(Lib)] internal static partial int cuDevicePrimaryCtxRelease_v2(int device);
    [LibraryImport(Lib)] internal static partial int cuCtxSetCurrent(nint context);
    [LibraryImport(Lib)] internal static partial int cuCtxSynchronize();
    [LibraryImport(Lib)] internal static partial int cuModuleLoadData(out nint module, void* image);
    [LibraryImport(Lib)] internal static partial int cuModuleUnload(nint module);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int cuModuleGetFunction(out nint function, nint module, string name);
    [LibraryImport(Lib)] internal static partial int cuMemAlloc_v2(out ulong devicePtr, nuint bytes);
    [LibraryImport(Lib)] internal static partial int cuMemFree_v2(ulong devicePtr);
    [LibraryImport(Lib)] internal static partial int cuMemcpyHtoD_v2(ulong dst, void* src, nuint bytes);
    [LibraryImport(Lib)] internal static partial int cuMemcpyDtoH_v2(void* dst, ulong src, nuint bytes);
    [LibraryImport(Lib)] internal static partial int cuStreamCreate(out nint stream, uint flags);
    [LibraryImport(Lib)] internal static partial int cuStreamDestroy_v2(nint stream);
    [LibraryImport(Lib)] internal static partial int cuStreamSynchronize(nint stream);
    [LibraryImport(Lib)] internal static partial int cuEventCreate(out nint ev, uint flags);
    [LibraryImport(Lib)] internal static partial int cuEventRecord(nint ev, nint stream);
    [LibraryImport(Lib)] internal static partial int cuEventSynchronize(nint ev);
    [LibraryImport(Lib)] internal static partial int cuEventElapsedTime(out float milliseconds, nint start, nint end);
    [LibraryImport(Lib)] internal static partial int cuEventDestroy_v2(nint ev);
    [LibraryImport(Lib)]
    internal static partial int cuLaunchKernel(nint function, uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ,
                                               uint sharedMemBytes, nint stream, void** kernelParams, void** extra);
    [LibraryImport(Lib)] internal static partial int cuGetErrorString(int result, out byte* text);
    [LibraryImport(Lib)] internal static partial int cuGetErrorName(int result, out byte* name);
}

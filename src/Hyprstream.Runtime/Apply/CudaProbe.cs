using System.Runtime.InteropServices;
using Hyprstream.Interop;
using Hyprstream.Interop.Cuda;

namespace Hyprstream.Runtime.Apply;

/// <summary>
/// Whether the CUDA backend can run here, and why not. No driver, no device or no kernel image are normal states
/// (most machines), found once per process without throwing.
/// </summary>
public sealed unsafe class CudaProbe
{
    public const string PtxFileName = KernelImages.PtxFileName;
    private static readonly Lazy<CudaProbe> s_current = new(Run);

    private CudaProbe(bool available, string description, IReadOnlyList<KernelImage>? images = null)
    {
        Available = available;
        Description = description;
        Images = images ?? [];
    }

    /// <summary>The result for this process (probed on first use).</summary>
    public static CudaProbe Current => s_current.Value;

    public bool Available { get; }
    /// <summary>The device in words, or the reason CUDA is not used.</summary>
    public string Description { get; }
    /// <summary>The kernel images the backend tries, in order (<see cref="KernelImages.Find()"/>): fatbin, then PTX.</summary>
    public IReadOnlyList<KernelImage> Images { get; }

    private static CudaProbe Run()
    {
        if (!NativeLibrary.TryLoad(NativeLibraryLoader.CudaDriverFile, out _))
            return new(false, $"no NVIDIA driver ({NativeLibraryLoader.CudaDriverFile} not found)");
        int rc = Cu.cuInit(0);
        if (rc != 0) return new(false, $"cuInit failed: {CudaStatus.Describe(rc)}");
        rc = Cu.cuDeviceGetCount(out int count);
        if (rc != 0) return new(false, $"cuDeviceGetCount failed: {CudaStatus.Describe(rc)}");
        if (count == 0) return new(false, "the NVIDIA driver reports no CUDA device");
        var images = KernelImages.Find();
        if (images.Count == 0)
            return new(false, Environment.GetEnvironmentVariable(KernelImages.Variable) is { Length: > 0 } named
                ? $"{KernelImages.Variable}={named} does not exist"
                : $"{PtxFileName} not found (run ./build.sh, or set {KernelImages.Variable})");
        return new(true, DescribeDevice(0), images);
    }

    internal static string DescribeDevice(int ordinal)
    {
        CudaStatus.Check(Cu.cuDeviceGet(out int dev, ordinal), "cuDeviceGet");
        byte* name = stackalloc byte[256];
        CudaStatus.Check(Cu.cuDeviceGetName(name, 256, dev), "cuDeviceGetName");
        Cu.cuDeviceGetAttribute(out int major, Cu.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
        Cu.cuDeviceGetAttribute(out int minor, Cu.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
        Cu.cuDeviceGetAttribute(out int sms, Cu.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev);
        Cu.cuDeviceTotalMem_v2(out nuint mem, dev);
        Cu.cuDriverGetVersion(out int driver);
        return $"{Marshal.PtrToStringUTF8((nint)name)} (sm_{major}{minor}, {sms} SMs, {mem / (1024.0 * 1024 * 1024):F1} GiB, driver API {driver / 1000}.{driver % 1000 / 10})";
    }
}

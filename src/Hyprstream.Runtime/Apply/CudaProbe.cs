using System.Runtime.InteropServices;
using Hyprstream.Interop;
using Hyprstream.Interop.Cuda;

namespace Hyprstream.Runtime.Apply;

/// <summary>
/// Whether the CUDA backend can run here, and why not. No driver, no device or no PTX are normal states (most
/// machines), found once per process without throwing.
/// </summary>
public sealed unsafe class CudaProbe
{
    public const string PtxFileName = "hyprstream_kernels.ptx";
    private static readonly Lazy<CudaProbe> s_current = new(Run);

    private CudaProbe(bool available, string description, string? ptxPath)
    {
        Available = available;
        Description = description;
        PtxPath = ptxPath;
    }

    /// <summary>The result for this process (probed on first use).</summary>
    public static CudaProbe Current => s_current.Value;

    public bool Available { get; }
    /// <summary>The device in words, or the reason CUDA is not used.</summary>
    public string Description { get; }
    public string? PtxPath { get; }

    /// <summary>Where the PTX is looked for: HYPRSTREAM_PTX (a file), HYPRSTREAM_NATIVE_DIR, next to the assemblies.</summary>
    public static string? FindPtx()
    {
        var explicitPath = Environment.GetEnvironmentVariable("HYPRSTREAM_PTX");
        if (!string.IsNullOrEmpty(explicitPath)) return File.Exists(explicitPath) ? explicitPath : null;
        var dirs = new List<string>();
        var native = Environment.GetEnvironmentVariable("HYPRSTREAM_NATIVE_DIR");
        if (!string.IsNullOrEmpty(native)) dirs.Add(native);
        var here = Path.GetDirectoryName(typeof(CudaProbe).Assembly.Location);
        if (!string.IsNullOrEmpty(here)) dirs.Add(here);
        dirs.Add(AppContext.BaseDirectory);
        return dirs.Select(d => Path.Combine(d, PtxFileName)).FirstOrDefault(File.Exists);
    }

    private static CudaProbe Run()
    {
        if (!NativeLibrary.TryLoad(NativeLibraryLoader.CudaDriverFile, out _))
            return new(false, $"no NVIDIA driver ({NativeLibraryLoader.CudaDriverFile} not found)", null);
        int rc = Cu.cuInit(0);
        if (rc != 0) return new(false, $"cuInit failed: {CudaStatus.Describe(rc)}", null);
        rc = Cu.cuDeviceGetCount(out int count);
        if (rc != 0) return new(false, $"cuDeviceGetCount failed: {CudaStatus.Describe(rc)}", null);
        if (count == 0) return new(false, "the NVIDIA driver reports no CUDA device", null);
        var ptx = FindPtx();
        if (ptx == null) return new(false, $"{PtxFileName} not found (run ./build.sh, or set HYPRSTREAM_PTX)", null);
        return new(true, DescribeDevice(0), ptx);
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

using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Hyprstream.Interop;

/// <summary>
/// Finds libhyprstream_native.so (HYPRSTREAM_NATIVE_DIR, next to the assembly, runtimes/linux-x64/native) and checks
/// its ABI version before any call reaches it, so a missing or stale library is one clear message. The CUDA
/// bindings' library name "cuda" resolves to libcuda.so.1 (absent on machines without the NVIDIA driver).
/// </summary>
internal static class NativeLibraryLoader
{
    public const string LibraryName = "hyprstream_native";
    public const string FileName = "libhyprstream_native.so";
    /// <summary>The CUDA driver (only the versioned name exists on machines without the CUDA toolkit).</summary>
    public const string CudaDriverFile = "libcuda.so.1";
    public const uint AbiMajor = 1;
    public const uint AbiMinor = 4;

#pragma warning disable CA2255 // a library registering its own native resolver is the intended use
    [ModuleInitializer]
    internal static void Register() => NativeLibrary.SetDllImportResolver(typeof(NativeLibraryLoader).Assembly, Resolve);
#pragma warning restore CA2255

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name == Cuda.Cu.Lib) return NativeLibrary.TryLoad(CudaDriverFile, out var cuda) ? cuda : 0;
        if (name == Cuda.Cublas.Lib) return Cuda.Cublas.TryLoad(out var cublas) ? cublas : 0;
        if (name != LibraryName) return 0;
        return Load(CandidateDirectories());
    }

    /// <summary>Loads the first library found in <paramref name="directories"/>; throws a message that says what to run.</summary>
    internal static nint Load(IEnumerable<string> directories)
    {
        var tried = new List<string>();
        foreach (var dir in directories)
        {
            var path = Path.Combine(dir, FileName);
            tried.Add(path);
            if (!File.Exists(path)) continue;
            var handle = NativeLibrary.Load(path);
            CheckAbi(handle, path);
            return handle;
        }
        throw new DllNotFoundException(
            $"{FileName} was not found (looked in: {string.Join(", ", tried)}). Run ./build.sh at the repository root " +
            "to build it, or set HYPRSTREAM_NATIVE_DIR to the folder that holds it.");
    }

    internal static IEnumerable<string> CandidateDirectories()
    {
        var env = Environment.GetEnvironmentVariable("HYPRSTREAM_NATIVE_DIR");
        if (!string.IsNullOrEmpty(env)) yield return env;
        var here = Path.GetDirectoryName(typeof(NativeLibraryLoader).Assembly.Location);
        if (string.IsNullOrEmpty(here)) here = AppContext.BaseDirectory;
        yield return here;
        yield return Path.Combine(here, "runtimes", "linux-x64", "native");
        if (AppContext.BaseDirectory.TrimEnd('/') != here.TrimEnd('/')) yield return AppContext.BaseDirectory;
    }

    private static unsafe void CheckAbi(nint handle, string path)
    {
        if (!NativeLibrary.TryGetExport(handle, "hs_abi_version", out var fn))
            throw new HyprstreamException($"{path} is not a Hyprstream native library (no hs_abi_version export).");
        var version = ((delegate* unmanaged<uint>)fn)();
        uint major = version >> 16, minor = version & 0xFFFF;
        if (major != AbiMajor || minor < AbiMinor)
            throw new HyprstreamException(
                $"{path} has ABI {major}.{minor}, but this build needs {AbiMajor}.{AbiMinor} or a later {AbiMajor}.x. " +
                "Rebuild it with ./build.sh.");
    }
}

using Hyprstream.Interop;

namespace Hyprstream.Runtime.Apply;

/// <summary>What a kernel image file holds, told from its first bytes (cuModuleLoadData takes all three).</summary>
public enum KernelImageKind
{
    /// <summary>PTX text: the driver JIT-compiles it for the device when it loads.</summary>
    Ptx,
    /// <summary>An nvcc fatbin: SASS for some architectures (no JIT on those) and usually PTX for the others.</summary>
    Fatbin,
    /// <summary>One architecture's SASS (an ELF cubin).</summary>
    Cubin,
}

/// <summary>One file of compiled kernels (native/kernels/apply.cu) that the CUDA backend can load.</summary>
public sealed record KernelImage(string Path, KernelImageKind Kind)
{
    /// <summary>The file at <paramref name="path"/>, its kind read from its first bytes.</summary>
    public static KernelImage Open(string path) => new(path, KernelImages.KindOf(path));

    public override string ToString() => $"{System.IO.Path.GetFileName(Path)} ({KernelImages.Describe(Kind)})";
}

/// <summary>
/// Which kernel images the CUDA backend tries, and in what order. The build ships the clang PTX and, where nvcc works,
/// a fatbin (SASS for sm_80 and sm_90, PTX for newer GPUs); the fatbin comes first so A100/H100/H200 start without a
/// JIT, and the PTX is the fallback when there is no fatbin or it does not load (an old driver, an unknown GPU).
/// Never loads anything itself: <see cref="LoadFirst"/> takes the loader, so the order is tested without a GPU.
/// </summary>
public static class KernelImages
{
    public const string PtxFileName = "hyprstream_kernels.ptx";
    public const string FatbinFileName = "hyprstream_kernels.fatbin";
    /// <summary>Names one kernel image file (PTX, fatbin or cubin); then nothing else is tried.</summary>
    public const string Variable = "HYPRSTREAM_PTX";

    private static ReadOnlySpan<byte> FatbinMagic => [0x50, 0xED, 0x55, 0xBA];  // 0xBA55ED50, little endian
    private static ReadOnlySpan<byte> ElfMagic => [0x7F, (byte)'E', (byte)'L', (byte)'F'];

    /// <summary>The images for this process: <see cref="Variable"/>, else the first directory that holds any, searched
    /// as the native library is (HYPRSTREAM_NATIVE_DIR, the assemblies' directory, its runtimes/linux-x64/native where
    /// a package's build leaves them, the app's base directory), so the kernels come from the library's build.</summary>
    public static IReadOnlyList<KernelImage> Find() =>
        Find(Environment.GetEnvironmentVariable(Variable), NativeLibraryLoader.CandidateDirectories());

    /// <summary>
    /// <paramref name="explicitPath"/> alone when given (nothing if it does not exist); else, from the first directory
    /// that holds a kernel image, its fatbin then its PTX. Both come from one directory, so from one build.
    /// </summary>
    public static IReadOnlyList<KernelImage> Find(string? explicitPath, IEnumerable<string> directories)
    {
        if (!string.IsNullOrEmpty(explicitPath)) return File.Exists(explicitPath) ? [KernelImage.Open(explicitPath)] : [];
        foreach (var dir in directories)
        {
            var found = new[] { FatbinFileName, PtxFileName }.Select(f => System.IO.Path.Combine(dir, f)).Where(File.Exists)
                .Select(KernelImage.Open).ToList();
            if (found.Count > 0) return found;
        }
        return [];
    }

    /// <summary>The kind of the file's content (not its name): fatbin and ELF magic, else PTX text.</summary>
    public static KernelImageKind KindOf(string path)
    {
        Span<byte> head = stackalloc byte[4];
        using var f = File.OpenRead(path);
        int n = f.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        if (n == 4 && head.SequenceEqual(FatbinMagic)) return KernelImageKind.Fatbin;
        if (n == 4 && head.SequenceEqual(ElfMagic)) return KernelImageKind.Cubin;
        return KernelImageKind.Ptx;
    }

    internal static string Describe(KernelImageKind kind) => kind switch
    {
        KernelImageKind.Fatbin => "fatbin",
        KernelImageKind.Cubin => "cubin",
        _ => "PTX, JIT-compiled by the driver",
    };

    /// <summary>
    /// Tries the images in order with <paramref name="tryLoad"/> (null when it loaded, else why not) and returns the
    /// first that loads with the reasons the ones before it did not. None loading throws, naming every reason.
    /// </summary>
    public static (KernelImage Loaded, IReadOnlyList<string> Skipped) LoadFirst(IReadOnlyList<KernelImage> images, Func<KernelImage, string?> tryLoad)
    {
        if (images.Count == 0)
            throw new InvalidOperationException($"no kernel image: {PtxFileName} not found (run ./build.sh, or set {Variable})");
        var skipped = new List<string>();
        foreach (var image in images)
        {
            var why = tryLoad(image);
            if (why == null) return (image, skipped);
            skipped.Add($"{System.IO.Path.GetFileName(image.Path)}: {why}");
        }
        throw new HyprstreamException($"no kernel image loads: {string.Join("; ", skipped)}");
    }
}

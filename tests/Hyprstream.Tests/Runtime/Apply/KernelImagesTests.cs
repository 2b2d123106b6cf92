using Hyprstream.Interop;
using Hyprstream.Runtime.Apply;

namespace Hyprstream.Tests;

/// <summary>
/// Which kernel image the CUDA backend loads: the fatbin first (SASS, no JIT), the PTX when there is no fatbin or it
/// does not load, one named file alone. The loader is passed in, so the order and the fallback are tested without a GPU.
/// </summary>
public class KernelImagesTests
{
    private static readonly byte[] FatbinHead = [0x50, 0xED, 0x55, 0xBA, 1, 0, 16, 0];
    private static readonly byte[] ElfHead = [0x7F, (byte)'E', (byte)'L', (byte)'F', 2, 1, 1, 0];
    private static readonly byte[] PtxHead = "//\n.version 7.0\n.target sm_80\n"u8.ToArray();

    private static string Write(string dir, string name, byte[] content)
    {
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, name);
        File.WriteAllBytes(path, content);
        return path;
    }

    [Test]
    public void Find_TakesTheFatbinThenThePtx_FromTheFirstDirectoryThatHasEither()
    {
        using var t = new TempDir();
        var empty = Directory.CreateDirectory(t.File("empty")).FullName;
        var both = t.File("both");
        var fatbin = Write(both, KernelImages.FatbinFileName, FatbinHead);
        var ptx = Write(both, KernelImages.PtxFileName, PtxHead);
        var later = t.File("later");
        Write(later, KernelImages.PtxFileName, PtxHead);

        Assert.That(KernelImages.Find(null, [empty, both, later]), Is.EqualTo(new[]
            { new KernelImage(fatbin, KernelImageKind.Fatbin), new KernelImage(ptx, KernelImageKind.Ptx) }));
        // A directory with only the PTX (no toolkit on the build machine): the PTX alone, not a fatbin from elsewhere.
        Assert.That(KernelImages.Find("", [later, both]), Is.EqualTo(new[]
            { new KernelImage(Path.Combine(later, KernelImages.PtxFileName), KernelImageKind.Ptx) }));
        Assert.That(KernelImages.Find(null, [empty]), Is.Empty);
    }

    [Test]
    public void Find_ANamedFile_IsTheOnlyImage_AndAMissingNamedFileIsNone()
    {
        using var t = new TempDir();
        var dir = t.File("native");
        Write(dir, KernelImages.FatbinFileName, FatbinHead);
        Write(dir, KernelImages.PtxFileName, PtxHead);
        var named = Write(t.Path, "other.fatbin", FatbinHead);

        Assert.That(KernelImages.Find(named, [dir]), Is.EqualTo(new[] { new KernelImage(named, KernelImageKind.Fatbin) }));
        Assert.That(KernelImages.Find(t.File("missing.ptx"), [dir]), Is.Empty, "a wrong HYPRSTREAM_PTX must not fall back silently");
    }

    [Test]
    public void KindOf_ReadsTheContent_NotTheName()
    {
        using var t = new TempDir();
        Assert.That(KernelImages.KindOf(Write(t.Path, "a.ptx", FatbinHead)), Is.EqualTo(KernelImageKind.Fatbin));
        Assert.That(KernelImages.KindOf(Write(t.Path, "b.fatbin", ElfHead)), Is.EqualTo(KernelImageKind.Cubin));
        Assert.That(KernelImages.KindOf(Write(t.Path, "c.cubin", PtxHead)), Is.EqualTo(KernelImageKind.Ptx));
        Assert.That(KernelImages.KindOf(Write(t.Path, "d", [0x50, 0xED])), Is.EqualTo(KernelImageKind.Ptx), "too short for a header");
        // The PTX the build made beside the tests.
        Assert.That(KernelImages.KindOf(Path.Combine(AppContext.BaseDirectory, KernelImages.PtxFileName)), Is.EqualTo(KernelImageKind.Ptx));
    }

    private static readonly KernelImage Fatbin = new("/k/hyprstream_kernels.fatbin", KernelImageKind.Fatbin);
    private static readonly KernelImage Ptx = new("/k/hyprstream_kernels.ptx", KernelImageKind.Ptx);

    [Test]
    public void LoadFirst_UsesTheFatbin_AndNeverTouchesThePtx_WhenTheFatbinLoads()
    {
        var tried = new List<KernelImage>();
        var (loaded, skipped) = KernelImages.LoadFirst([Fatbin, Ptx], i => { tried.Add(i); return null; });
        Assert.That(loaded, Is.EqualTo(Fatbin));
        Assert.That(skipped, Is.Empty);
        Assert.That(tried, Is.EqualTo(new[] { Fatbin }));
    }

    [Test]
    public void LoadFirst_FallsBackToThePtx_WhenTheFatbinDoesNotLoad_AndSaysWhy()
    {
        var (loaded, skipped) = KernelImages.LoadFirst([Fatbin, Ptx],
            i => i.Kind == KernelImageKind.Fatbin ? "cuModuleLoadData failed: CUDA_ERROR_NO_BINARY_FOR_GPU" : null);
        Assert.That(loaded, Is.EqualTo(Ptx));
        Assert.That(skipped, Is.EqualTo(new[] { "hyprstream_kernels.fatbin: cuModuleLoadData failed: CUDA_ERROR_NO_BINARY_FOR_GPU" }));
    }

    [Test]
    public void LoadFirst_WhenNothingLoads_ThrowsWithEveryReason_AndWithNoImages_SaysWhatToRun()
    {
        var e = Assert.Throws<HyprstreamException>(() => KernelImages.LoadFirst([Fatbin, Ptx], i => $"no {i.Kind}"));
        Assert.That(e!.Message, Does.Contain("hyprstream_kernels.fatbin: no Fatbin").And.Contain("hyprstream_kernels.ptx: no Ptx"));
        Assert.That(() => KernelImages.LoadFirst([], _ => null),
            Throws.InvalidOperationException.With.Message.Contains("./build.sh").And.Message.Contains(KernelImages.Variable));
    }
}

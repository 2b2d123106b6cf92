using System.Text.RegularExpressions;
using Hyprstream.Runtime.Apply;

namespace Hyprstream.Tests;

/// <summary>
/// The built kernels checked with NVIDIA's own tools, no GPU needed: ptxas assembles each PTX build (clang's, nvcc's)
/// for sm_80 and sm_90 without spills (native/kernels/check_ptx.sh), and the fatbin holds SASS for sm_80 and sm_90
/// plus PTX for newer GPUs, every launch-table kernel in each, with the launch table's parameters. Skipped with the
/// reason where the CUDA toolkit is absent (<see cref="CudaToolkit"/>); CI installs it and requires these.
/// </summary>
public class KernelToolkitTests
{
    private static string Built(string file)
    {
        var path = Path.Combine(AppContext.BaseDirectory, file);
        if (!File.Exists(path)) CudaToolkit.Missing($"{file} was not built: no nvcc here, or it fails (see build/native/configure.log)");
        return path;
    }

    private static (int ExitCode, string Output) CheckPtx(string ptxas, string logs, IDictionary<string, string>? env, params string[] ptx)
    {
        var script = Path.Combine(Service.NodeInteropTests.RepoRoot(), "native/kernels/check_ptx.sh");
        var vars = new Dictionary<string, string>(env ?? new Dictionary<string, string>()) { ["PTXAS"] = ptxas, ["LOGDIR"] = logs };
        return CudaToolkit.Run(script, ptx, vars);
    }

    [TestCaseSource(typeof(KernelPtxTests), nameof(KernelPtxTests.Builds))]
    public void Ptxas_AssemblesThePtx_ForSm80AndSm90_WithoutSpills(string file, string compiler)
    {
        var ptxas = CudaToolkit.Tool("ptxas");
        var ptx = file == KernelImages.PtxFileName ? Path.Combine(AppContext.BaseDirectory, file) : Built(file);
        var label = compiler.Contains("LLVM") ? "clang" : "nvcc";
        using var logs = new TempDir();
        var (rc, output) = CheckPtx(ptxas, logs.Path, null, ptx);
        TestContext.Out.WriteLine(output);
        Assert.That(rc, Is.EqualTo(0), output);
        Assert.That(output, Does.Contain($"{KernelSignatures.Entries.Count} kernels x 2 assemblies, 0 bytes spilled"));
        var header = output.Split('\n').Single(l => l.StartsWith("registers per thread", StringComparison.Ordinal));
        Assert.That(Regex.Matches(header, @"\w+ sm_\d+").Select(m => m.Value), Is.EqualTo(new[] { $"{label} sm_80", $"{label} sm_90" }));
        foreach (var kernel in KernelSignatures.Entries.Keys)
            Assert.That(output, Does.Match($@"\n{kernel}\s+\d+\s+\d+\n"), $"{kernel}: one register count per assembly");
    }

    [Test]
    public void PtxasCheck_Fails_WhenAKernelSpills()
    {
        var ptxas = CudaToolkit.Tool("ptxas");
        using var logs = new TempDir();
        // 24 registers per thread (ptxas's floor) is fewer than the GEMM needs: ptxas spills, and the check must fail.
        var (rc, output) = CheckPtx(ptxas, logs.Path, new Dictionary<string, string> { ["PTXAS_FLAGS"] = "--maxrregcount 24", ["ARCHS"] = "sm_80" },
                                    Path.Combine(AppContext.BaseDirectory, KernelImages.PtxFileName));
        Assert.That(rc, Is.EqualTo(1), output);
        Assert.That(output, Does.Contain("spilled to local memory").And.Contain("check_ptx: FAILED"));
    }

    private static string CuObjDump(params string[] args)
    {
        var (rc, output) = CudaToolkit.Run(CudaToolkit.Tool("cuobjdump"), args);
        Assert.That(rc, Is.EqualTo(0), output);
        return output;
    }

    [Test]
    public void Fatbin_HoldsSassForSm80AndSm90_AndPtxForNewerGpus()
    {
        var fatbin = Built(KernelImages.FatbinFileName);
        Assert.That(KernelImages.KindOf(fatbin), Is.EqualTo(KernelImageKind.Fatbin));
        var listing = CuObjDump("--list-elf", "--list-ptx", fatbin);
        Assert.That(Regex.Matches(listing, @"ELF file\s+\d+: \S+\.(sm_\d+)\.cubin").Select(m => m.Groups[1].Value), Is.EquivalentTo(new[] { "sm_80", "sm_90" }), listing);
        Assert.That(Regex.Matches(listing, @"PTX file\s+\d+: \S+\.(sm_\d+)\.ptx").Select(m => m.Groups[1].Value), Is.EquivalentTo(new[] { "sm_80" }), listing);
    }

    [Test]
    public void Fatbin_EveryLaunchTableKernel_HasSassForSm80AndSm90_WithoutLocalMemory()
    {
        var usage = CuObjDump("--dump-resource-usage", Built(KernelImages.FatbinFileName));
        // "arch = sm_80" opens each cubin's section; then per kernel "Function hs_x:" and "REG:30 STACK:0 ... LOCAL:0 ...".
        var found = new Dictionary<(string Arch, string Kernel), (int Reg, int Stack, int Local)>();
        string arch = "", kernel = "";
        foreach (var line in usage.Split('\n'))
        {
            if (Regex.Match(line, @"^arch = (sm_\d+)") is { Success: true } a) arch = a.Groups[1].Value;
            else if (Regex.Match(line, @"^\s*Function (\w+):") is { Success: true } f) kernel = f.Groups[1].Value;
            else if (Regex.Match(line, @"REG:(\d+) STACK:(\d+) SHARED:\d+ LOCAL:(\d+)") is { Success: true } r && kernel != "")
                found[(arch, kernel)] = (int.Parse(r.Groups[1].Value), int.Parse(r.Groups[2].Value), int.Parse(r.Groups[3].Value));
        }
        foreach (var sm in new[] { "sm_80", "sm_90" })
        {
            Assert.That(found.Keys.Where(k => k.Arch == sm).Select(k => k.Kernel), Is.EquivalentTo(KernelSignatures.Entries.Keys), $"{sm}:\n{usage}");
            foreach (var ((_, name), (reg, stack, local)) in found.Where(k => k.Key.Arch == sm))
            {
                Assert.That(local, Is.Zero, $"{name} on {sm} uses local memory (spills)");
                Assert.That(stack, Is.Zero, $"{name} on {sm} has a stack frame");
                Assert.That(reg, Is.InRange(1, 255), $"{name} on {sm}");
            }
        }
    }

    [Test]
    public void Fatbin_Ptx_TakesTheParametersTheLaunchTablePacks()
    {
        var ptx = CuObjDump("-ptx", Built(KernelImages.FatbinFileName));
        Assert.That(KernelPtxTests.Entries(ptx), Has.Count.EqualTo(KernelSignatures.Entries.Count));
        Assert.That(KernelPtxTests.Disagreements(ptx, KernelSignatures.Entries), Is.Empty);
    }
}

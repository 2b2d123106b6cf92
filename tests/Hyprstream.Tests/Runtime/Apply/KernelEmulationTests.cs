using System.Diagnostics;

namespace Hyprstream.Tests;

/// <summary>
/// The CUDA kernels' source (native/kernels/apply.cu), compiled as C++ and run on CPU threads one std::thread per CUDA
/// thread (host_emulation.h), over real snapshots from the shim: sparse GEMM with three segments and a grid-stride
/// loop, scatter into float32/fp16/bf16, lookup through the NanoVDB tree, and the half conversions against the
/// compiler's _Float16. This checks the kernels' logic where no GPU exists; it says nothing about launches on a GPU.
/// </summary>
public class KernelEmulationTests
{
    [Test]
    public void Kernels_RunOnCpuThreads_MatchIndependentReferences()
    {
        var exe = Path.Combine(AppContext.BaseDirectory, "hs_kernel_emulation_test");
        Assert.That(File.Exists(exe), Is.True, $"{exe} is missing: the native build did not produce it");
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.That(p.WaitForExit(180_000), Is.True, "kernel emulation did not finish in 3 minutes");
        string output = stdout.Result + stderr.Result;
        TestContext.Out.WriteLine(output);
        Assert.That(p.ExitCode, Is.EqualTo(0), output);
        var lines = output.Split('\n');
        Assert.That(lines.Count(l => l.StartsWith("PASS ", StringComparison.Ordinal)), Is.EqualTo(24), output);
        Assert.That(lines.Any(l => l.StartsWith("FAIL", StringComparison.Ordinal)), Is.False, output);
    }
}

using System.Text.RegularExpressions;
using Hyprstream.Runtime;

namespace Hyprstream.Tests;

/// <summary>The CUDA kernels were compiled to PTX by the build (no GPU or CUDA toolkit needed) and ship with the tests.</summary>
public class KernelPtxTests
{
    private static string Ptx()
    {
        var path = Path.Combine(AppContext.BaseDirectory, CudaProbe.PtxFileName);
        Assert.That(File.Exists(path), Is.True, $"{path} is missing: the native build did not produce the PTX");
        return File.ReadAllText(path);
    }

    [Test]
    public void Ptx_HasEveryKernelEntryPoint()
    {
        var entries = Regex.Matches(Ptx(), @"\.visible \.entry (\w+)\(").Select(m => m.Groups[1].Value).ToHashSet();
        string[] expected =
        [
            "hs_sgemm_f32", "hs_sgemm_q16", "hs_lookup_f32", "hs_lookup_q16", "hs_dense_gemm_f32",
            "hs_scatter_f32_f32", "hs_scatter_f16_f32", "hs_scatter_bf16_f32", "hs_scatter_f32_q16", "hs_scatter_f16_q16", "hs_scatter_bf16_q16",
            "hs_scatter_many_f32_f32", "hs_scatter_many_f16_f32", "hs_scatter_many_bf16_f32",
            "hs_scatter_many_f32_q16", "hs_scatter_many_f16_q16", "hs_scatter_many_bf16_q16",
        ];
        Assert.That(entries, Is.SupersetOf(expected));
    }

    [Test]
    public void Ptx_TargetsSm80_AndCallsNoHostFunctions()
    {
        var ptx = Ptx();
        Assert.That(ptx, Does.Match(@"\.target sm_80"));
        Assert.That(ptx, Does.Not.Contain(".extern .func"), "device code must not reference unresolved (host/libdevice) functions");
        Assert.That(ptx, Does.Contain("atom.global.add.f32").Or.Contain("red.global.add.f32"), "the GEMM accumulates with float atomics");
        Assert.That(ptx, Does.Contain("shfl.sync.down"), "the GEMM reduces within a warp");
    }
}

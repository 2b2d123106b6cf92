using System.Text.RegularExpressions;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Apply;

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

    // ---- the launch table (KernelSignatures) against the kernels' declared parameters ----

    private static readonly Regex Entry = new(@"\.visible\s+\.entry\s+(\w+)\s*\(([^)]*)\)", RegexOptions.Compiled);
    private static readonly Regex Param = new(@"\.param\s+(?:\.align\s+\d+\s+)?\.([a-z]+)(\d+)\s+\w+(?:\[(\d+)\])?", RegexOptions.Compiled);

    /// <summary>Per <c>.entry</c> of the PTX: its parameters as (PTX type, bytes).</summary>
    internal static Dictionary<string, List<(string Type, int Bytes)>> Entries(string ptx) =>
        Entry.Matches(ptx).ToDictionary(m => m.Groups[1].Value, m => Param.Matches(m.Groups[2].Value)
            .Select(p => (p.Groups[1].Value + p.Groups[2].Value,
                          p.Groups[3].Success ? int.Parse(p.Groups[3].Value) * int.Parse(p.Groups[2].Value) / 8 : int.Parse(p.Groups[2].Value) / 8))
            .ToList());

    /// <summary>Every way the table and the PTX disagree, in words (empty when they agree).</summary>
    internal static List<string> Disagreements(string ptx, IReadOnlyDictionary<string, KernelParam[]> table)
    {
        var entries = Entries(ptx);
        var problems = new List<string>();
        foreach (var name in entries.Keys.Except(table.Keys)) problems.Add($"{name}: in the PTX but not in the launch table");
        foreach (var (name, want) in table)
        {
            if (!entries.TryGetValue(name, out var got)) { problems.Add($"{name}: in the launch table but not in the PTX"); continue; }
            if (got.Count != want.Length) { problems.Add($"{name}: the kernel takes {got.Count} parameters, the table {want.Length}"); continue; }
            for (int i = 0; i < got.Count; i++)
            {
                if (got[i].Bytes != KernelSignatures.Size(want[i]))
                    problems.Add($"{name} parameter {i}: .{got[i].Type} is {got[i].Bytes} bytes, the table's {want[i]} is {KernelSignatures.Size(want[i])}");
                else if ((got[i].Type == "f32") != (want[i] == KernelParam.Float32))
                    problems.Add($"{name} parameter {i}: .{got[i].Type} in the kernel, {want[i]} in the table");
            }
        }
        return problems;
    }

    [Test]
    public void Ptx_EveryEntryPoint_TakesTheParametersTheLaunchTablePacks()
    {
        var ptx = Ptx();
        Assert.That(Entries(ptx), Has.Count.EqualTo(KernelSignatures.Entries.Count));
        Assert.That(Disagreements(ptx, KernelSignatures.Entries), Is.Empty);
    }

    [Test]
    public void LaunchTableCheck_FailsWhenAKernelSignatureChanges()
    {
        var ptx = Ptx();
        // rows of hs_sgemm_f32 as int64 instead of int32: a size disagreement.
        var wider = ptx.Replace(".param .u32 hs_sgemm_f32_param_6,", ".param .u64 hs_sgemm_f32_param_6,");
        Assert.That(wider, Is.Not.EqualTo(ptx));
        Assert.That(Disagreements(wider, KernelSignatures.Entries), Is.EqualTo(new[]
            { "hs_sgemm_f32 parameter 6: .u64 is 8 bytes, the table's Int32 is 4" }));
        // scale of a scatter as an int: same size, another kind.
        var intScale = ptx.Replace(".param .f32 hs_scatter_bf16_q16_param_6,", ".param .u32 hs_scatter_bf16_q16_param_6,");
        Assert.That(Disagreements(intScale, KernelSignatures.Entries), Has.One.Contains("hs_scatter_bf16_q16 parameter 6"));
        // a parameter more in the table than in the kernel.
        var table = KernelSignatures.Entries.ToDictionary(e => e.Key, e => e.Value);
        table["hs_dense_gemm_f32"] = [.. table["hs_dense_gemm_f32"], KernelParam.Int32];
        Assert.That(Disagreements(ptx, table), Is.EqualTo(new[] { "hs_dense_gemm_f32: the kernel takes 6 parameters, the table 7" }));
    }

    [Test]
    public void Pack_RefusesArgumentsThatDisagreeWithTheTable_AndWritesEachParameterAtItsSize()
    {
        var slots = new ulong[8];
        KernelArg[] scatter =
        [
            KernelArg.Ptr(0x1000), KernelArg.Ptr(0x2000), KernelArg.I32(-3), KernelArg.I64(-5),
            KernelArg.I32(7), KernelArg.I32(9), KernelArg.F32(0.5f), KernelArg.Ptr(0x3000),
        ];
        KernelSignatures.Pack("hs_scatter_bf16_f32", scatter, slots);
        Assert.That(slots, Is.EqualTo(new ulong[] { 0x1000, 0x2000, 0xFFFF_FFFD, unchecked((ulong)-5L), 7, 9, BitConverter.SingleToUInt32Bits(0.5f), 0x3000 }));

        Assert.That(() => KernelSignatures.Pack("hs_scatter_bf16_f32", scatter[..7], slots), Throws.ArgumentException.With.Message.Contains("takes 8 parameters, 7 given"));
        var swapped = (KernelArg[])scatter.Clone();
        swapped[3] = KernelArg.I32(-5);  // slotBase is int64
        Assert.That(() => KernelSignatures.Pack("hs_scatter_bf16_f32", swapped, slots), Throws.ArgumentException.With.Message.Contains("parameter 3 is Int64"));
        Assert.That(() => KernelSignatures.Pack("hs_nope", scatter, slots), Throws.ArgumentException);
    }
}

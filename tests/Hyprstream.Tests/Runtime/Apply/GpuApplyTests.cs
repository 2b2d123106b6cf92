using Hyprstream.Runtime;
using Hyprstream.Runtime.Snapshots;
using Hyprstream.Runtime.Apply;

namespace Hyprstream.Tests;

/// <summary>
/// The CUDA backend against the CPU backend (which the dense-reference tests pin down). Skipped, with the reason,
/// where no CUDA device, driver or PTX exists. Tolerances: GEMM 1e-5 relative (float atomics sum in another order);
/// scatter into float32 1e-6; into fp16/bf16 one unit in the last place (CPU may fuse the multiply-add).
/// </summary>
[Category("Gpu")]
[NonParallelizable]
public class GpuApplyTests
{
    private CudaApplier _gpu = null!;
    private readonly CpuApplier _cpu = new();

    [OneTimeSetUp]
    public void Start()
    {
        var probe = CudaProbe.Current;
        if (!probe.Available) Assert.Ignore($"no CUDA: {probe.Description}");
        _gpu = new CudaApplier(probe.Images);
        TestContext.Progress.WriteLine($"GPU tests on {_gpu.Device}");
    }

    [OneTimeTearDown]
    public void Stop() => _gpu?.Dispose();

    [TestCase(SnapshotPrecision.Float32, 1)] [TestCase(SnapshotPrecision.Float32, 16)] [TestCase(SnapshotPrecision.Float32, 64)]
    [TestCase(SnapshotPrecision.Fp16, 4)]
    public void Gemm_AgreesWithCpu(SnapshotPrecision precision, int batch)
    {
        using var a = ApplyFixtures.Random(100 + batch);
        using var s = AdapterSnapshot.Create(a, precision);
        foreach (var m in s.Modules)
        {
            var x = ApplyFixtures.RandomMatrix(batch, (long)batch * m.Cols);
            var y0 = ApplyFixtures.RandomMatrix(batch + 7, (long)batch * m.Rows);
            var yc = (float[])y0.Clone();
            var yg = (float[])y0.Clone();
            _cpu.Gemm(s, m.Name, x, yc, batch, 0.75f);
            _gpu.Gemm(s, m.Name, x, yg, batch, 0.75f);
            Assert.That(ApplyFixtures.MaxRelError(yg, yc), Is.LessThan(1e-5), m.Name);
        }
    }

    [Test]
    public void MixedBatch_AgreesWithCpu()
    {
        using var a = ApplyFixtures.Random(110, name: "a");
        using var b = ApplyFixtures.Random(111, name: "b");
        using var sa = AdapterSnapshot.Create(a);
        using var sb = AdapterSnapshot.Create(b);
        var m = sa.Modules[2];
        int[] offsets = [0, 5, 5, 12];
        var x = ApplyFixtures.RandomMatrix(112, 12L * m.Cols);
        var yc = new float[12 * m.Rows];
        var yg = new float[12 * m.Rows];
        _cpu.GemmMixed([sa, sb, sa], offsets, m.Name, x, yc);
        _gpu.GemmMixed([sa, sb, sa], offsets, m.Name, x, yg);
        Assert.That(ApplyFixtures.MaxRelError(yg, yc), Is.LessThan(1e-5));
    }

    [TestCase(SnapshotPrecision.Float32)] [TestCase(SnapshotPrecision.Fp16)]
    public void Scatter_AllBaseTypes_AgreeWithCpu(SnapshotPrecision precision)
    {
        using var a = ApplyFixtures.Random(120);
        using var s = AdapterSnapshot.Create(a, precision);
        foreach (var m in s.Modules)
        {
            var w0 = ApplyFixtures.RandomMatrix(121, (long)m.Rows * m.Cols);
            var fc = (float[])w0.Clone(); var fg = (float[])w0.Clone();
            _cpu.Scatter(s, m.Name, fc.AsSpan(), -1f);
            _gpu.Scatter(s, m.Name, fg.AsSpan(), -1f);
            Assert.That(fg, Is.EqualTo(fc).Within(1e-6f), m.Name);

            var hc = w0.Select(v => (Half)v).ToArray(); var hg = (Half[])hc.Clone();
            _cpu.Scatter(s, m.Name, hc.AsSpan());
            _gpu.Scatter(s, m.Name, hg.AsSpan());
            for (int i = 0; i < hc.Length; i++)
                Assert.That((float)hg[i], Is.EqualTo((float)hc[i]).Within(Math.Abs((float)hc[i]) * 1e-3f + 1e-7f), $"{m.Name} f16[{i}]");

            var bc = w0.Select(Bf16.FromSingle).ToArray(); var bg = (ushort[])bc.Clone();
            _cpu.ScatterBf16(s, m.Name, bc.AsSpan());
            _gpu.ScatterBf16(s, m.Name, bg.AsSpan());
            for (int i = 0; i < bc.Length; i++) Assert.That(Math.Abs(bg[i] - bc[i]), Is.LessThanOrEqualTo(1), $"{m.Name} bf16[{i}]");
        }
    }

    [TestCase(SnapshotPrecision.Float32)] [TestCase(SnapshotPrecision.Fp16)]
    public void Lookup_ThroughTheNanoVdbTree_AgreesWithCpu(SnapshotPrecision precision)
    {
        using var a = ApplyFixtures.Random(130);
        using var s = AdapterSnapshot.Create(a, precision);
        var rng = new Random(131);
        foreach (var m in s.Modules)
        {
            var rows = Enumerable.Range(0, 1000).Select(_ => rng.Next(m.Rows)).ToArray();
            var cols = Enumerable.Range(0, 1000).Select(_ => rng.Next(m.Cols)).ToArray();
            var vc = new float[1000]; var vg = new float[1000];
            _cpu.Lookup(s, m.Name, rows, cols, vc);
            _gpu.Lookup(s, m.Name, rows, cols, vg);
            Assert.That(vg, Is.EqualTo(vc).Within(1e-6f), m.Name);
        }
    }

    [Test]
    public void GemmPlan_KeepsItsDeviceCopy_WhenTheSnapshotIsEvicted()
    {
        using var a = ApplyFixtures.Random(120);
        using var s = AdapterSnapshot.Create(a);
        var m = s.Modules[0];
        const int batch = 8;
        var x = ApplyFixtures.RandomMatrix(121, (long)batch * m.Cols);
        var yc = new float[batch * m.Rows];
        _cpu.Gemm(s, m.Name, x, yc, batch);
        using var diag = new CudaDiagnostics(_gpu);
        using var plan = _gpu.PlanGemm([s], [0, batch], m.Name);
        _gpu.Evict(s);
        Assert.That(_gpu.IsResident(s), Is.False, "out of the cache at once");
        // Were the copy freed, these same-sized NaN buffers would likely take its place.
        using var junk1 = diag.Upload<float>(Enumerable.Repeat(float.NaN, (int)(s.ByteSize / 4) + 1).ToArray());
        using var junk2 = diag.Upload<int>(Enumerable.Repeat(-1, (int)s.LeafCount + 1).ToArray());
        using var dx = diag.Upload<float>(x);
        using var dy = diag.Upload<float>(new float[yc.Length]);
        _gpu.Gemm(plan, dx, dy);
        var yg = new float[yc.Length];
        diag.Download(dy, yg);
        Assert.That(ApplyFixtures.MaxRelError(yg, yc), Is.LessThan(1e-5));
    }
}

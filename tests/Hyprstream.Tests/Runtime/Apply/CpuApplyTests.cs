using Hyprstream.Runtime;
using Hyprstream.Runtime.Snapshots;
using Hyprstream.Runtime.Apply;

namespace Hyprstream.Tests;

/// <summary>
/// The CPU backend against the dense reference (snapshot-independent <c>AdapterModule.ToDense</c> + a naive double
/// matmul). Tolerances: float32 GEMM 1e-5 relative to max(1, max|y|) (fp32 accumulation of ≤ 320 products vs double);
/// Fp16 snapshots 1e-3 (quantization step ≤ 2/65535 per weight); scatter into float32 is exact up to one rounding
/// (1e-6), into fp16/bf16 it must equal the reference rounded the same way.
/// </summary>
public class CpuApplyTests
{
    private readonly CpuApplier _cpu = new();

    [TestCase(1)] [TestCase(3)] [TestCase(16)] [TestCase(64)]
    public void Gemm_MatchesDenseReference(int batch)
    {
        using var a = ApplyFixtures.Random(10 + batch);
        using var s = AdapterSnapshot.Create(a);
        foreach (var m in a.Modules)
        {
            var x = ApplyFixtures.RandomMatrix(batch, (long)batch * m.Cols);
            var y0 = ApplyFixtures.RandomMatrix(batch + 1, (long)batch * m.Rows);   // += onto existing values
            var y = (float[])y0.Clone();
            var expected = (float[])y0.Clone();
            _cpu.Gemm(s, m.Name, x, y, batch, scale: 1.5f);
            ApplyFixtures.NaiveGemm(m.ToDense(applyScale: true), m.Rows, m.Cols, x, expected, batch, 1.5f);
            Assert.That(ApplyFixtures.MaxRelError(y, expected), Is.LessThan(1e-5), $"{m.Name} batch {batch}");
            Assert.That(y, Is.Not.EqualTo(y0), "the delta changed something");
        }
    }

    [Test]
    public void Gemm_LargeEnoughToRunInParallel_MatchesReference()
    {
        var shapes = new[] { ("model.layers.0.mlp.gate_proj", 512, 1024) };
        using var a = ApplyFixtures.Random(20, tileDensity: 0.5, shapes: shapes);
        using var s = AdapterSnapshot.Create(a);
        var x = ApplyFixtures.RandomMatrix(1, 16 * 1024);
        var y = new float[16 * 512];
        var expected = new float[16 * 512];
        _cpu.Gemm(s, shapes[0].Item1, x, y, 16);
        ApplyFixtures.NaiveGemm(a.Modules[0].ToDense(applyScale: true), 512, 1024, x, expected, 16, 1f);
        Assert.That(ApplyFixtures.MaxRelError(y, expected), Is.LessThan(1e-5));
    }

    [Test]
    public void Gemm_Fp16Snapshot_MatchesReferenceWithinQuantization()
    {
        using var a = ApplyFixtures.Random(21);
        using var s = AdapterSnapshot.Create(a, SnapshotPrecision.Fp16);
        var m = a.Modules[2];
        var x = ApplyFixtures.RandomMatrix(2, 4L * m.Cols);
        var y = new float[4 * m.Rows];
        var expected = new float[4 * m.Rows];
        _cpu.Gemm(s, m.Name, x, y, 4);
        ApplyFixtures.NaiveGemm(m.ToDense(applyScale: true), m.Rows, m.Cols, x, expected, 4, 1f);
        Assert.That(ApplyFixtures.MaxRelError(y, expected), Is.LessThan(1e-3));
    }

    [Test]
    public void MixedBatch_EachSegmentUsesItsOwnAdapter()
    {
        using var a = ApplyFixtures.Random(30, name: "a");
        using var b = ApplyFixtures.Random(31, name: "b");
        using var c = ApplyFixtures.Random(32, name: "c");
        using var sa = AdapterSnapshot.Create(a);
        using var sb = AdapterSnapshot.Create(b);
        using var sc = AdapterSnapshot.Create(c);
        var m = a.Modules[1];
        int[] offsets = [0, 3, 3, 8];            // an empty segment in the middle
        int batch = offsets[^1];
        var x = ApplyFixtures.RandomMatrix(33, (long)batch * m.Cols);
        var y = new float[batch * m.Rows];
        _cpu.GemmMixed([sa, sb, sc], offsets, m.Name, x, y, 2f);
        var expected = new float[batch * m.Rows];
        var adapters = new[] { a, b, c };
        for (int seg = 0; seg < 3; seg++)
        {
            int n = offsets[seg + 1] - offsets[seg];
            if (n == 0) continue;
            var dense = adapters[seg].Modules[m.Name].ToDense(applyScale: true);
            ApplyFixtures.NaiveGemm(dense, m.Rows, m.Cols, x.AsSpan(offsets[seg] * m.Cols, n * m.Cols),
                                    expected.AsSpan(offsets[seg] * m.Rows, n * m.Rows), n, 2f);
        }
        Assert.That(ApplyFixtures.MaxRelError(y, expected), Is.LessThan(1e-5));
    }

    [Test]
    public void ScatterFloat_SwitchInThenOut_RestoresTheBase()
    {
        using var a = ApplyFixtures.Random(40);
        using var s = AdapterSnapshot.Create(a);
        foreach (var m in a.Modules)
        {
            var w0 = ApplyFixtures.RandomMatrix(41, (long)m.Rows * m.Cols);
            var w = (float[])w0.Clone();
            _cpu.Scatter(s, m.Name, w.AsSpan());
            var delta = m.ToDense(applyScale: true);
            for (int i = 0; i < w.Length; i++) Assert.That(w[i], Is.EqualTo(w0[i] + delta[i]).Within(1e-6f), $"{m.Name}[{i}]");
            _cpu.Scatter(s, m.Name, w.AsSpan(), -1f);
            for (int i = 0; i < w.Length; i++) Assert.That(w[i], Is.EqualTo(w0[i]).Within(1e-6f), $"{m.Name}[{i}] after switch-out");
        }
    }

    [Test]
    public void ScatterHalfAndBf16_EqualTheReferenceRoundedTheSameWay()
    {
        using var a = ApplyFixtures.Random(42);
        using var s = AdapterSnapshot.Create(a);
        var m = a.Modules[1];
        var delta = m.ToDense(applyScale: true);
        var w0 = ApplyFixtures.RandomMatrix(43, (long)m.Rows * m.Cols);
        var half = w0.Select(v => (Half)v).ToArray();
        var bf = w0.Select(Bf16.FromSingle).ToArray();
        var halfRef = half.Select((h, i) => delta[i] == 0 ? h : (Half)((float)h + 0.5f * delta[i])).ToArray();
        var stored = m.ToDense(applyScale: false);
        var bfRef = bf.Select((h, i) => Bf16.FromSingle(MathF.FusedMultiplyAdd(stored[i], 0.5f * m.Scale, Bf16.ToSingle(h)))).ToArray();
        _cpu.Scatter(s, m.Name, half.AsSpan(), 0.5f);
        _cpu.ScatterBf16(s, m.Name, bf.AsSpan(), 0.5f);
        Assert.That(half, Is.EqualTo(halfRef));
        Assert.That(bf, Is.EqualTo(bfRef));
        Assert.That(half.Zip(w0).Count(p => (float)p.First != (float)(Half)p.Second), Is.GreaterThan(0), "something was switched in");
    }

    [Test]
    public void Bf16_VectorPath_EqualsScalarRounding_IncludingTiesNaNAndInfinity()
    {
        var rng = new Random(44);
        var src = Enumerable.Range(0, 203).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var dst = Enumerable.Range(0, 203).Select(i => Bf16.FromSingle((float)(rng.NextDouble() * 4 - 2))).ToArray();
        dst[3] = Bf16.FromSingle(float.NaN); dst[4] = Bf16.FromSingle(float.PositiveInfinity); dst[5] = 0x3F80; src[5] = 1f / 64; // 1 + 2^-8: a tie, rounds to even (1.0)
        var expected = dst.Select((d, i) => Bf16.FromSingle(MathF.FusedMultiplyAdd(src[i], 0.25f, Bf16.ToSingle(d)))).ToArray();
        unsafe
        {
            fixed (float* s = src) fixed (ushort* d = dst) Bf16.AddScaled(s, 0.25f, d, dst.Length);
        }
        Assert.That(dst, Is.EqualTo(expected));
        Assert.That(float.IsNaN(Bf16.ToSingle(dst[3])) && float.IsPositiveInfinity(Bf16.ToSingle(dst[4])), Is.True);
    }

    [Test]
    public void Lookup_ReturnsStoredWeights_AndZeroElsewhere()
    {
        using var a = ApplyFixtures.Random(50);
        using var s16 = AdapterSnapshot.Create(a, SnapshotPrecision.Fp16);
        using var s = AdapterSnapshot.Create(a);
        var rng = new Random(51);
        foreach (var m in a.Modules)
        {
            var rows = Enumerable.Range(0, 500).Select(_ => rng.Next(m.Rows)).ToArray();
            var cols = Enumerable.Range(0, 500).Select(_ => rng.Next(m.Cols)).ToArray();
            var got = new float[500];
            var got16 = new float[500];
            _cpu.Lookup(s, m.Name, rows, cols, got);
            _cpu.Lookup(s16, m.Name, rows, cols, got16);
            for (int i = 0; i < 500; i++)
            {
                float expected = m.IsActive(rows[i], cols[i]) ? m.Get(rows[i], cols[i]) : 0f;
                Assert.That(got[i], Is.EqualTo(expected), $"({rows[i]}, {cols[i]})");
                Assert.That(got16[i], Is.EqualTo(expected).Within(2e-5), $"fp16 ({rows[i]}, {cols[i]})");
            }
        }
    }

    [Test]
    public void BadArguments_AreRefusedBeforeAnythingIsWritten()
    {
        using var a = ApplyFixtures.Random(60);
        using var s = AdapterSnapshot.Create(a);
        var m = a.Modules[0];
        var y = new float[m.Rows];
        Assert.Throws<ArgumentException>(() => _cpu.Gemm(s, m.Name, new float[m.Cols - 1], y, 1));
        Assert.Throws<ArgumentException>(() => _cpu.Gemm(s, m.Name, new float[m.Cols], new float[m.Rows + 1], 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => _cpu.Gemm(s, m.Name, new float[0], new float[0], 0));
        Assert.Throws<ArgumentException>(() => _cpu.Gemm(s, m.Name, new float[m.Cols], y, 1, float.NaN));
        Assert.Throws<KeyNotFoundException>(() => _cpu.Gemm(s, "no.such.module", new float[m.Cols], y, 1));
        Assert.Throws<ArgumentException>(() => _cpu.Scatter(s, m.Name, new float[3].AsSpan()));
        Assert.Throws<ArgumentOutOfRangeException>(() => _cpu.Lookup(s, m.Name, [m.Rows], [0], new float[1]));
        Assert.Throws<ArgumentException>(() => _cpu.GemmMixed([s], [0, 2, 3], m.Name, new float[2 * m.Cols], new float[2 * m.Rows]));
        Assert.Throws<ArgumentException>(() => _cpu.GemmMixed([s, s], [0, 2, 1], m.Name, new float[m.Cols], new float[m.Rows]));
        using var other = ApplyFixtures.Random(61);
        using var so = AdapterSnapshot.Create(other);
        Assert.Throws<ArgumentException>(() => _cpu.GemmMixed([s, so], [0, 1, 2], a.Modules[1].Name, new float[0], new float[0]));
        Assert.That(y, Is.All.EqualTo(0f));
    }

    [Test]
    public void ConcurrentCallers_OnOneSnapshot_GetIdenticalResults_AndDisposeWaitsForNoOne()
    {
        using var a = ApplyFixtures.Random(80, tileDensity: 0.6, shapes: [("model.layers.0.mlp.up_proj", 256, 512)]);
        var s = AdapterSnapshot.Create(a);
        var name = a.Modules[0].Name;
        var x = ApplyFixtures.RandomMatrix(81, 8 * 512);
        var expected = new float[8 * 256];
        _cpu.Gemm(s, name, x, expected, 8);
        // Dedicated threads released together; each calls at least 20 times and until calls have overlapped 8 times,
        // so the callers really shared the snapshot at the same time. Every result of every call is compared.
        var results = new float[8][];
        var overlap = new Overlap();
        var start = new Barrier(8);
        var callers = Enumerable.Range(0, 8).Select(t => new Thread(() =>
        {
            var y = new float[8 * 256];
            start.SignalAndWait();
            for (int k = 0; k < 20 || (overlap.Overlapped < 8 && k < 1_000_000); k++)
            {
                Array.Clear(y);
                overlap.Run(() => _cpu.Gemm(s, name, x, y, 8));
                if (!y.AsSpan().SequenceEqual(expected)) return; // results[t] stays null: reported below
            }
            results[t] = y;
        })).ToList();
        callers.ForEach(c => c.Start());
        foreach (var c in callers) Assert.That(c.Join(TimeSpan.FromSeconds(120)), Is.True, "a caller is stuck (hang guard)");
        Assert.That(overlap.Overlapped, Is.GreaterThanOrEqualTo(8), overlap.ToString());
        foreach (var r in results) Assert.That(r, Is.EqualTo(expected));
        // Disposing while calls are in flight: each call completes on the live buffer or is refused; every worker
        // keeps calling until it is refused, so each one sees the dispose.
        // The dispose comes only once every worker has completed a call, so all four are calling when it happens.
        int completed = 0, refused = 0, running = 0;
        // Dedicated threads: busy pool threads would keep the pool from starting the fourth worker on a 2-core machine.
        var workers = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
        {
            var y = new float[8 * 256];
            for (int k = 0; k < 10_000_000; k++)
            {
                try { _cpu.Gemm(s, name, x, y, 8); Interlocked.Increment(ref completed); if (k == 0) Interlocked.Increment(ref running); }
                catch (ObjectDisposedException) { Interlocked.Increment(ref refused); return; }
            }
        })).ToArray();
        foreach (var w in workers) w.Start();
        Overlap.WaitUntil(() => Volatile.Read(ref completed) >= 20 && Volatile.Read(ref running) == 4 || workers.Any(w => !w.IsAlive),
            () => $"{completed} calls completed, {running} of 4 workers running");
        Assert.That(workers.Any(w => !w.IsAlive), Is.False, "a worker stopped before the dispose");
        s.Dispose();
        foreach (var w in workers) Assert.That(w.Join(60_000), Is.True, "a worker is stuck (hang guard)");
        Assert.That(refused, Is.EqualTo(4));
    }
}

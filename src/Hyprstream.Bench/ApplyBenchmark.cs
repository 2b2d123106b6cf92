using Hyprstream.Runtime.Synthetic;
using System.Diagnostics;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Snapshots;
using Hyprstream.Runtime.Apply;

namespace Hyprstream.Bench;

/// <summary>
/// `hyprstream bench apply`: sparse GEMM of a 1% tile-structured Qwen3-1.7B adapter vs a dense GEMM/GEMV of the same
/// shape in the same run, per token batch, and the time to switch a whole adapter into / out of dense base weights.
/// CPU: <see cref="CpuApplier"/> vs <see cref="DenseGemm"/>. CUDA: the PTX kernels on device-resident data, timed with
/// CUDA events, vs cuBLAS sgemm where libcublas is installed, else our own dense kernel.
/// </summary>
internal static class ApplyBenchmark
{
    public sealed record Row(string Device, string Metric, string Shape, int Batch, double Value, string Unit, double? Baseline, double? Ratio, string? Target);

    private static readonly (string Suffix, string Label)[] GemmModules =
    [
        ("self_attn.q_proj", "q_proj 2048x2048"), ("mlp.gate_proj", "gate_proj 6144x2048"), ("mlp.down_proj", "down_proj 2048x6144"),
    ];

    public static List<Row> Run(ApplyBackend device, int layers, double density, int[] batches, Action<string> progress)
    {
        using var applier = ApplyBackends.Create(device);  // first: an unavailable device fails before any work
        progress($"backend: {applier.Device}");
        progress($"generating a {density:P1} tile-structured adapter with Qwen3-1.7B shapes ({layers} layers)");
        var data = SyntheticAdapter.Generate(ModelShapes.Qwen3_1_7B(layers), density, SparsityStructure.Tile, seed: 4321);
        using var adapter = data.Build("bench-apply");
        var rows = new List<Row>();
        var sw = Stopwatch.StartNew();
        using (AdapterSnapshot.Create(adapter)) { }  // warm-up
        sw.Restart();
        using var snap = AdapterSnapshot.Create(adapter);
        double convertMs = sw.Elapsed.TotalMilliseconds;
        using var snap16 = AdapterSnapshot.Create(adapter, SnapshotPrecision.Fp16);
        long weights = data.Weights;
        rows.Add(new("host", "snapshot create (float32)", "whole adapter", 0, convertMs, "ms", null, null, null));
        rows.Add(new("host", "snapshot size (float32)", "whole adapter", 0, (double)snap.ByteSize / weights, "B/weight", null, null, null));
        rows.Add(new("host", "snapshot size (fp16)", "whole adapter", 0, (double)snap16.ByteSize / weights, "B/weight", null, null, null));

        if (applier is CudaApplier gpu) RunCuda(gpu, snap, batches, rows, progress);
        else RunCpu((CpuApplier)applier, snap, batches, rows, progress);
        return rows;
    }

    private static void RunCpu(CpuApplier cpu, AdapterSnapshot snap, int[] batches, List<Row> rows, Action<string> progress)
    {
        // Warm-up of both paths (tiered JIT, thread pool) so the first measured shape is not a cold start.
        {
            var m = snap["model.layers.0." + GemmModules[0].Suffix];
            var dense = snap.ToDense(m.Name, applyScale: true);
            var x = Random(4 * m.Cols, 0);
            var y = new float[4 * m.Rows];
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed.TotalMilliseconds < 400) { DenseGemm.Run(dense, m.Rows, m.Cols, x, 4, y); cpu.Gemm(snap, m.Name, x, y, 4); }
        }
        foreach (var (suffix, label) in GemmModules)
        {
            var m = snap["model.layers.0." + suffix];
            var dense = snap.ToDense(m.Name, applyScale: true);
            foreach (int b in batches)
            {
                progress($"cpu: {label}, batch {b}");
                var x = Random(b * m.Cols, b);
                var y = new float[b * m.Rows];
                double sparse = MedianMs(() => cpu.Gemm(snap, m.Name, x, y, b));
                double baseline = MedianMs(() => DenseGemm.Run(dense, m.Rows, m.Cols, x, b, y));
                rows.Add(new("cpu", "sparse GEMM vs dense", label, b, sparse, "ms", baseline, baseline / sparse, b == 1 ? ">= 30x" : null));
            }
        }
        // Switching one layer (its 7 modules) in, vs merging a rank-16 LoRA of the same shapes (DESIGN.md: >= 50x).
        {
            progress("cpu: layer 0 switch-in vs rank-16 LoRA merge");
            var layer = snap.Modules.Where(m => m.Name.StartsWith("model.layers.0.", StringComparison.Ordinal)).ToArray();
            var w = layer.ToDictionary(m => m.Name, m => new float[(long)m.Rows * m.Cols]);
            var lora = layer.ToDictionary(m => m.Name, m => (B: Random(m.Rows * 16, 1), A: Random(16 * m.Cols, 2)));
            double sparse = MedianMs(() => { foreach (var m in layer) cpu.Scatter(snap, m.Name, w[m.Name].AsSpan()); });
            double merge = MedianMs(() => { foreach (var m in layer) LoraMerge.Run(w[m.Name], m.Rows, m.Cols, lora[m.Name].B, lora[m.Name].A, 16); });
            rows.Add(new("cpu", "switch in vs LoRA merge W += B.A (rank 16)", "layer 0, 7 modules", 0, sparse, "ms", merge, merge / sparse, ">= 50x"));
        }
        // Switch a whole adapter: every module scattered into base weights (one dense buffer per shape, reused across
        // layers so the run fits in memory; each scatter touches only its ~1% of tiles either way).
        foreach (var (type, bytes) in new[] { ("float32", 4), ("bf16", 2) })
        {
            progress($"cpu: full-adapter switch into {type} base weights");
            var buffers = new Dictionary<(int, int), Array>();
            foreach (var m in snap.Modules)
                if (!buffers.ContainsKey((m.Rows, m.Cols)))
                    buffers[(m.Rows, m.Cols)] = bytes == 4 ? new float[(long)m.Rows * m.Cols] : new ushort[(long)m.Rows * m.Cols];
            void Switch(float sign)
            {
                foreach (var m in snap.Modules)
                {
                    var buf = buffers[(m.Rows, m.Cols)];
                    if (buf is float[] f) cpu.Scatter(snap, m.Name, f.AsSpan(), sign);
                    else cpu.ScatterBf16(snap, m.Name, ((ushort[])buf).AsSpan(), sign);
                }
            }
            double inMs = MedianMs(() => Switch(1f)), outMs = MedianMs(() => Switch(-1f));
            rows.Add(new("cpu", $"switch in, {snap.Modules.Count} modules ({type})", "whole adapter", 0, inMs, "ms", null, null, null));
            rows.Add(new("cpu", $"switch out, {snap.Modules.Count} modules ({type})", "whole adapter", 0, outMs, "ms", null, null, null));
        }
    }

    private static void RunCuda(CudaApplier gpu, AdapterSnapshot snap, int[] batches, List<Row> rows, Action<string> progress)
    {
        using var diag = new CudaDiagnostics(gpu);
        var upload = Stopwatch.StartNew();
        gpu.MakeResident(snap);
        bool cublas = diag.HasCublas;
        progress($"cuda: dense baseline is {diag.DenseBaseline}");
        rows.Add(new("cuda", "snapshot upload (host -> device)", "whole adapter", 0, upload.Elapsed.TotalMilliseconds, "ms", null, null, null));
        foreach (var (suffix, label) in GemmModules)
        {
            var m = snap["model.layers.0." + suffix];
            using var dw = diag.Upload<float>(snap.ToDense(m.Name, applyScale: true));
            foreach (int b in batches)
            {
                progress($"cuda: {label}, batch {b}");
                using var dx = diag.Upload<float>(Random(b * m.Cols, b));
                using var dy = diag.Allocate((long)b * m.Rows * 4);
                using var plan = gpu.PlanGemm([snap], [0, b], m.Name);
                double sparse = MedianMs(() => { gpu.Gemm(plan, dx, dy); diag.Synchronize(); }, () => diag.Time(() => gpu.Gemm(plan, dx, dy)));
                Action dense = () => diag.DenseGemm(dw, m.Rows, m.Cols, dx, b, dy);
                double baseline = MedianMs(() => { dense(); diag.Synchronize(); }, () => diag.Time(dense));
                rows.Add(new("cuda", cublas ? "sparse GEMM vs cuBLAS sgemm" : "sparse GEMM vs own dense kernel (no cuBLAS)", label, b, sparse, "ms", baseline, baseline / sparse, null));
            }
        }
        progress("cuda: full-adapter switch into bf16 base weights (one device buffer per module)");
        var buffers = new List<DeviceBuffer>();
        try
        {
            foreach (var m in snap.Modules) buffers.Add(diag.Allocate((long)m.Rows * m.Cols * 2));
            var names = snap.Modules.Select(m => m.Name).ToArray();
            using (var switchIn = gpu.PlanSwitch(snap, names, buffers, BaseWeightType.Bf16, 1f))
            using (var switchOut = gpu.PlanSwitch(snap, names, buffers, BaseWeightType.Bf16, -1f))
            {
                double inMs = MedianMs(() => { gpu.Switch(switchIn); diag.Synchronize(); }, () => diag.Time(() => gpu.Switch(switchIn)));
                double outMs = MedianMs(() => { gpu.Switch(switchOut); diag.Synchronize(); }, () => diag.Time(() => gpu.Switch(switchOut)));
                rows.Add(new("cuda", $"switch in, {snap.Modules.Count} modules, one launch (bf16, resident snapshot)", "whole adapter", 0, inMs, "ms", null, null, "<= 2 ms"));
                rows.Add(new("cuda", $"switch out, {snap.Modules.Count} modules, one launch (bf16, resident snapshot)", "whole adapter", 0, outMs, "ms", null, null, "<= 2 ms"));
            }
            void PerModule(float sign) { for (int i = 0; i < names.Length; i++) gpu.Scatter(snap, names[i], buffers[i], BaseWeightType.Bf16, sign); }
            double loopMs = MedianMs(() => { PerModule(1f); diag.Synchronize(); }, () => diag.Time(() => PerModule(1f)));
            rows.Add(new("cuda", $"switch in, {snap.Modules.Count} launches (bf16, resident snapshot)", "whole adapter", 0, loopMs, "ms", null, null, null));
        }
        finally
        {
            foreach (var b in buffers) b.Dispose();
        }
    }

    private static float[] Random(int n, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    /// <summary>Median wall time of repeated runs (after one warm-up), at least 5 and until ~0.5 s have passed.</summary>
    private static double MedianMs(Action work, Func<float>? timed = null)
    {
        // A blocking collection first: the large arrays allocated just before would otherwise start a background GC
        // that competes for the two cores during the first samples.
        GC.Collect(2, GCCollectionMode.Forced, blocking: true);
        GC.WaitForPendingFinalizers();
        work();
        var samples = new List<double>();
        var total = Stopwatch.StartNew();
        while (samples.Count < 5 || (total.Elapsed.TotalSeconds < 0.5 && samples.Count < 200))
        {
            if (timed != null) samples.Add(timed());
            else
            {
                var sw = Stopwatch.StartNew();
                work();
                samples.Add(sw.Elapsed.TotalMilliseconds);
            }
        }
        samples.Sort();
        return samples[samples.Count / 2];
    }
}

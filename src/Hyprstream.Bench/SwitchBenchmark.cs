using Hyprstream.Runtime.Synthetic;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Linalg;
using Hyprstream.Runtime.Safetensors;
using Hyprstream.Runtime.Switching;

namespace Hyprstream.Bench;

/// <summary>
/// Adapter switching on Qwen3-1.7B shapes with synthetic float32 base weights, all in one run:
/// a 1% tile-structured sparse adapter switched in and out by <see cref="AdapterSwitcher"/>, against merging an
/// equivalent rank-16 LoRA (W += B·A for every module with <see cref="LowRankGemm"/>) and unmerging it (W −= B·A).
/// One thread for both sides. Medians of several repetitions.
/// </summary>
internal static class SwitchBenchmark
{
    public sealed record Row(string Metric, double Value, string Unit, string? Note = null);

    public static List<Row> Run(int layers, double density, int rank, int repeats, Action<string> log)
    {
        var shapes = ModelShapes.Qwen3_1_7B(layers);
        long baseWeights = shapes.Sum(s => (long)s.Rows * s.Cols);
        log($"allocating {baseWeights:N0} float32 base weights ({baseWeights * 4 / (1 << 20):N0} MiB) with Qwen3-1.7B shapes ({layers} layers, {shapes.Count} modules)");
        var tensors = shapes.Select(s => new DenseTensor(s.Name + ".weight", TensorDType.F32, s.Rows, s.Cols)).ToList();
        Parallel.For(0, tensors.Count, i => SyntheticModel.Fill(MemoryMarshal.Cast<byte, float>(tensors[i].Data.AsSpan()), (ulong)i + 11, 0.05f));
        ulong checksum = Checksum(tensors);

        log($"building the {density:P0} tile-structured sparse adapter");
        using var adapter = SyntheticAdapter.Generate(shapes, density, SparsityStructure.Tile, seed: 5).Build("bench-switch");
        long active = adapter.ActiveCount;
        var switcher = new AdapterSwitcher(tensors);
        var sw = Stopwatch.StartNew();
        var prepared = switcher.Prepare(adapter);
        double prepareMs = sw.Elapsed.TotalMilliseconds;

        var ins = new List<double>();
        var outs = new List<double>();
        for (int i = 0; i < repeats; i++)
        {
            sw.Restart(); switcher.SwitchIn(prepared); ins.Add(sw.Elapsed.TotalMilliseconds);
            sw.Restart(); switcher.SwitchOut(); outs.Add(sw.Elapsed.TotalMilliseconds);
        }
        bool restored = Checksum(tensors) == checksum;

        log($"rank-{rank} LoRA merge W += B·A over all {shapes.Count} modules (cache-blocked AVX2/FMA GEMM)");
        var loras = shapes.Select((s, i) =>
        {
            var a = new float[(long)rank * s.Cols];
            var b = new float[(long)s.Rows * rank];
            SyntheticModel.Fill(a, (ulong)(1000 + i), 0.02f);
            SyntheticModel.Fill(b, (ulong)(2000 + i), 0.01f);
            return (A: a, B: b);
        }).ToList();
        var merges = new List<double>();
        var unmerges = new List<double>();
        int loraRepeats = Math.Max(1, Math.Min(repeats, 3));
        for (int rep = 0; rep < loraRepeats; rep++)
        {
            sw.Restart();
            for (int i = 0; i < shapes.Count; i++)
                LowRankGemm.AddProduct(MemoryMarshal.Cast<byte, float>(tensors[i].Data.AsSpan()), shapes[i].Rows, shapes[i].Cols, loras[i].B, loras[i].A, rank, 1f);
            merges.Add(sw.Elapsed.TotalMilliseconds);
            sw.Restart();
            for (int i = 0; i < shapes.Count; i++)
                LowRankGemm.AddProduct(MemoryMarshal.Cast<byte, float>(tensors[i].Data.AsSpan()), shapes[i].Rows, shapes[i].Cols, loras[i].B, loras[i].A, rank, -1f);
            unmerges.Add(sw.Elapsed.TotalMilliseconds);
        }
        double switchIn = Median(ins), switchOut = Median(outs), merge = Median(merges), unmerge = Median(unmerges);
        double flops = 2.0 * rank * baseWeights;
        return
        [
            new("base weights (float32)", baseWeights, "weights", $"{layers} layers, {shapes.Count} modules"),
            new("sparse adapter weights (1% tiles)", active, "weights", $"{prepared.Runs:N0} runs of 64"),
            new("prepare (once per adapter: keep base values, compute switched values)", prepareMs, "ms"),
            new("sparse switch in", switchIn, "ms", $"median of {repeats}"),
            new("sparse switch out (restore)", switchOut, "ms", $"median of {repeats}; bit-exact: {(restored ? "yes" : "NO")}"),
            new("sparse switch in, weights/s", active / (switchIn / 1000), "weights/s"),
            new($"LoRA r={rank} merge W += B·A", merge, "ms", $"median of {loraRepeats}; {flops / (merge / 1000) / 1e9:F1} GFLOP/s, {baseWeights * 8.0 / (merge / 1000) / 1e9:F1} GB/s of W read+write"),
            new($"LoRA r={rank} unmerge W -= B·A", unmerge, "ms", $"median of {loraRepeats}"),
            new("ratio: LoRA merge / sparse switch in", merge / switchIn, "x", "target >= 50x"),
            new("ratio: (merge + unmerge) / (switch in + out)", (merge + unmerge) / (switchIn + switchOut), "x"),
        ];
    }

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }

    private static ulong Checksum(List<DenseTensor> tensors)
    {
        ulong h = 0;
        foreach (var t in tensors)
        {
            var u = MemoryMarshal.Cast<byte, ulong>(t.Data);
            ulong x = 0;
            for (int i = 0; i < u.Length; i++) x = (x ^ u[i]) * 0x100000001B3UL;
            h = h * 31 + x;
        }
        return h;
    }
}

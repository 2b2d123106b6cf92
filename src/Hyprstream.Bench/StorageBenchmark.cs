using Hyprstream.Runtime.Synthetic;
using System.Diagnostics;
using Hyprstream.Runtime;

namespace Hyprstream.Bench;

/// <summary>
/// `hyprstream bench storage`: batch-update throughput, bytes/weight in memory and on disk, save/load time for a
/// Qwen3-1.7B-shaped 1% adapter, tile-structured and unstructured, against a Dictionary baseline in the same run.
/// </summary>
internal static class StorageBenchmark
{
    public sealed record Row(string Structure, long Weights, string Metric, double Value, string Unit, string? Target);

    public static List<Row> Run(int layers, int unstructuredLayers, double density, string workDir, bool keepFiles, Action<string> progress)
    {
        Directory.CreateDirectory(workDir);
        var rows = new List<Row>();
        RunOne(SparsityStructure.Tile, layers, density, workDir, keepFiles, progress, rows, withBaseline: true);
        if (unstructuredLayers > 0) RunOne(SparsityStructure.Unstructured, unstructuredLayers, density, workDir, keepFiles, progress, rows, withBaseline: false);
        return rows;
    }

    private static void RunOne(SparsityStructure structure, int layers, double density, string dir, bool keepFiles, Action<string> progress, List<Row> rows, bool withBaseline)
    {
        string s = $"{structure.ToString().ToLowerInvariant()} ({layers} layers)";
        progress($"{s}: generating {density:P1} of Qwen3-1.7B shapes");
        var data = SyntheticAdapter.Generate(ModelShapes.Qwen3_1_7B(layers), density, structure, seed: 1234);
        var shuffled = data.Shuffled(99);
        long n = data.Weights;
        void Add(string metric, double v, string unit, string? target = null) => rows.Add(new Row(s, n, metric, v, unit, target));

        // Warm up the JIT and the native paths on a small copy so the first timing is not a cold start.
        var warm = new SyntheticAdapter { Modules = data.Modules.Take(7).ToList() };
        using (var w = warm.Build("warm-up")) { var p = Path.Combine(dir, "warm-up.vdb"); w.Save(p); SparseAdapter.Load(p).Dispose(); File.Delete(p); }
        using (var w = warm.Build("warm-up", add: true)) { }

        progress($"{s}: batch set, sorted ({n:N0} weights)");
        var (adapter, t) = Timed(() => data.Build("bench"));
        Add("batch set, sorted (row-major)", n / t, "weights/s", structure == SparsityStructure.Tile ? ">= 20 M/s" : null);
        progress($"{s}: batch set, random order");
        var (shuffledAdapter, t2) = Timed(() => shuffled.Build("bench-random"));
        Add("batch set, random order", n / t2, "weights/s");
        shuffledAdapter.Dispose();
        progress($"{s}: batch add, sorted");
        var (added, t3) = Timed(() => data.Build("bench-add", add: true));
        Add("batch add, sorted", n / t3, "weights/s");
        added.Dispose();

        Add("memory (OpenVDB float32)", (double)adapter.MemoryBytes / n, "B/weight", structure == SparsityStructure.Tile ? "<= 6" : null);

        foreach (var (label, options) in new[] { ("float32", SaveOptions.Default), ("half", SaveOptions.Half) })
        {
            var path = Path.Combine(dir, $"bench-{structure}-{label}.vdb");
            progress($"{s}: save {label}");
            double ts = Median(3, () => Timed(() => { adapter.Save(path, options); return 0; }).Seconds);
            long bytes = new FileInfo(path).Length;
            Add($"on disk ({label} + Blosc)", (double)bytes / n, "B/weight", label == "half" && structure == SparsityStructure.Tile ? "<= 2.5" : null);
            Add($"save ({label}), median of 3", ts * 1000, "ms");
            progress($"{s}: load {label}");
            double tl = Median(3, () =>
            {
                var (loaded, t) = Timed(() => SparseAdapter.Load(path));
                using (loaded)
                    if (loaded.ActiveCount != n) throw new InvalidOperationException($"loaded {loaded.ActiveCount} weights, saved {n}");
                return t;
            });
            Add($"load ({label}), median of 3", n / tl, "weights/s", structure == SparsityStructure.Tile ? ">= 100 M/s" : null);
            if (!keepFiles) File.Delete(path);
        }
        adapter.Dispose();

        if (!withBaseline) return;
        progress($"{s}: Dictionary<(int,int),float> baseline");
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = GC.GetTotalMemory(true);
        var (dicts, td) = Timed(() =>
        {
            var list = new List<Dictionary<(int, int), float>>();
            foreach (var m in data.Modules)
            {
                var d = new Dictionary<(int, int), float>();
                for (int i = 0; i < m.Values.Length; i++) d[(m.RowIdx[i], m.ColIdx[i])] = m.Values[i];
                list.Add(d);
            }
            return list;
        });
        long after = GC.GetTotalMemory(true);
        Add("baseline Dictionary: set, sorted", n / td, "weights/s");
        Add("baseline Dictionary: memory", (double)(after - before) / n, "B/weight");
        GC.KeepAlive(dicts);
        Add("reference CSR (float32 value + int32 col)", 8.0 + 4.0 * data.Modules.Sum(m => m.Rows + 1L) / n, "B/weight");
    }

    private static double Median(int runs, Func<double> measure)
    {
        var t = Enumerable.Range(0, runs).Select(_ => measure()).Order().ToArray();
        return t[runs / 2];
    }

    private static (T Result, double Seconds) Timed<T>(Func<T> f)
    {
        var sw = Stopwatch.StartNew();
        var r = f();
        return (r, sw.Elapsed.TotalSeconds);
    }
}

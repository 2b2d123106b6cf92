using System.Diagnostics;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Store;
using Hyprstream.Runtime.Synthetic;
using Row = Hyprstream.Bench.StoreBenchmark.Row;

namespace Hyprstream.Bench;

/// <summary>
/// `hyprstream bench store` (section "trace"): a switching trace. Many adapters of Qwen3-1.7B shapes (1 to
/// <see cref="StoreBenchmark.Settings.Layers"/> layers each, so sizes spread over a 1:Layers range), an L1+L2 budget
/// that holds ~10% of their bytes (half grids, half NanoVDB buffers), L3 (mapped snapshot files) room for all, and
/// Zipf(1)-distributed accesses; each access is timed until its first DoGet batch
/// (read lease + 256 tiles). The same trace then runs against "load the .vdb on every miss" (an LRU of loaded grids
/// within the same budget), the path cold reads took before snapshot files.
/// </summary>
internal static class SwitchingTraceBenchmark
{
    public static IEnumerable<Row> Run(StoreBenchmark.Settings s, Action<string> log)
    {
        int n = s.TraceAdapters;
        var dir = Path.Combine(s.Dir, "trace-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            // Adapter i has 1 + i mod Layers layers; the contents of equal sizes are shared (generation dominates setup).
            var contents = new Dictionary<int, AdapterBatch>();
            AdapterBatch Content(int layers)
            {
                if (contents.TryGetValue(layers, out var b)) return b;
                var synth = SyntheticAdapter.Generate(ModelShapes.Qwen3_1_7B(layers), s.Density, SparsityStructure.Tile, layers);
                b = new AdapterBatch();
                foreach (var m in synth.Modules) b.DefineModule(m.Name, m.Rows, m.Cols);
                foreach (var m in synth.Modules) b.Set(m.Name, m.RowIdx, m.ColIdx, m.Values);
                return contents[layers] = b;
            }
            long totalBytes = 0, totalWeights = 0;
            var sizes = new Dictionary<string, long>();
            var setup = Stopwatch.StartNew();
            using (var build = AdapterStore.Open(dir, new StoreOptions { Fsync = FsyncPolicy.Never, CheckpointWalBytes = 0, Budgets = new CacheBudgets(1, 0, 0) }))
            {
                for (int i = 0; i < n; i++)
                {
                    var name = $"a{i:D3}";
                    build.Create(name, "Qwen/Qwen3-1.7B", Content(1 + i % Math.Max(1, s.Layers)));  // leaves the cache at once: written back
                    var info = build.Info(name);
                    totalWeights += info.ActiveCount;
                    sizes[name] = (long)(info.ActiveCount * 5.9);   // grid bytes (measured ~5.8 B/weight)
                    totalBytes += sizes[name];
                }
            }
            log($"  {n} adapters, {totalWeights:N0} weights, set up in {setup.Elapsed.TotalSeconds:F0} s");
            long budget = totalBytes / 10;
            var rng = new Random(11);
            var zipf = Zipf(n, 1.0);
            var trace = Enumerable.Range(0, s.TraceAccesses).Select(_ => $"a{Sample(zipf, rng):D3}").ToArray();
            var rows = new List<Row>();

            // The store: L1 + L2 hold ~10% (half each); L3 keeps the mapped snapshot files of the rest; a miss maps one.
            using (var store = AdapterStore.Open(dir, new StoreOptions { Fsync = FsyncPolicy.Never, CheckpointWalBytes = 0, Budgets = new CacheBudgets(budget / 2, budget / 2, totalBytes * 2) }))
            {
                var lat = new double[trace.Length];
                var before = store.Stats().Cache;
                for (int i = 0; i < trace.Length; i++)
                {
                    var t0 = Stopwatch.GetTimestamp();
                    FirstBatch(store, trace[i]);
                    lat[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                }
                var st = store.Stats().Cache;
                long Hits(CacheTier t) => st[t].Hits - before[t].Hits;
                var note = $"{trace.Length} Zipf accesses over {n} adapters ({totalWeights / 1e6:F0} M weights), L1+L2 budget {budget / 1e6:F0} MB (~10%); " +
                           $"hits L1 {Hits(CacheTier.L1)}, L2 {Hits(CacheTier.L2)}, L3 {Hits(CacheTier.L3)}, misses (snapshot maps) {st.SnapshotMaps - before.SnapshotMaps}";
                rows.AddRange(Quantiles.Rows("switching trace", "store (L1 grid / L2 buffer / L3 mapped file; map on a miss): time to first DoGet batch", lat, note));
                log($"  store: p50 {Quantiles.Of(lat, 0.5):F2} ms, p99 {Quantiles.Of(lat, 0.99):F2} ms ({note})");
            }

            // The baseline: an LRU of grids within the same budget, loading the checkpoint .vdb on every miss.
            var files = Directory.GetFiles(Path.Combine(dir, AdapterStore.CheckpointFolder), "*.vdb")
                .ToDictionary(f => Path.GetFileName(f).Split('-')[0], f => f);
            var lru = new LinkedList<(string Name, SparseAdapter Adapter)>();
            long resident = 0;
            int hits = 0, misses = 0;
            var baseLat = new double[trace.Length];
            for (int i = 0; i < trace.Length; i++)
            {
                var t0 = Stopwatch.GetTimestamp();
                var node = lru.First;
                while (node != null && node.Value.Name != trace[i]) node = node.Next;
                if (node != null) { lru.Remove(node); lru.AddFirst(node); hits++; }
                else
                {
                    misses++;
                    node = lru.AddFirst((trace[i], SparseAdapter.Load(files[trace[i]])));
                    resident += sizes[trace[i]];
                }
                FirstBatch(node.Value.Adapter);
                baseLat[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                while (resident > budget && lru.Count > 1)
                {
                    var last = lru.Last!;
                    lru.RemoveLast();
                    resident -= sizes[last.Value.Name];
                    last.Value.Adapter.Dispose();
                }
            }
            foreach (var (_, a) in lru) a.Dispose();
            rows.AddRange(Quantiles.Rows("switching trace", "baseline (.vdb load on every miss): time to first DoGet batch", baseLat, $"same trace and budget: {hits} hits, {misses} .vdb loads"));
            log($"  baseline: p50 {Quantiles.Of(baseLat, 0.5):F2} ms, p99 {Quantiles.Of(baseLat, 0.99):F2} ms ({hits} hits, {misses} loads)");
            return rows;
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    private static void FirstBatch(AdapterStore store, string name)
    {
        using var reader = store.OpenRead(name);
        Read(reader.Modules[0].OpenTiles());
    }

    private static void FirstBatch(SparseAdapter a) => Read(a.Modules[0].OpenTileCursor());

    private static void Read(ITileCursor cursor)
    {
        using (cursor)
        {
            var tr = new int[256]; var tc = new int[256]; var v = new float[256 * 512];
            cursor.Read(tr, tc, v);
        }
    }

    private static double[] Zipf(int n, double exponent)
    {
        var cdf = new double[n];
        double sum = 0;
        for (int k = 0; k < n; k++) cdf[k] = sum += 1.0 / Math.Pow(k + 1, exponent);
        for (int k = 0; k < n; k++) cdf[k] /= sum;
        return cdf;
    }

    private static int Sample(double[] cdf, Random rng)
    {
        int i = Array.BinarySearch(cdf, rng.NextDouble());
        return Math.Min(cdf.Length - 1, i < 0 ? ~i : i);
    }
}

using Hyprstream.Runtime.Synthetic;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Bytes;
using Hyprstream.Runtime.Store;
using Hyprstream.Runtime.Apply;

namespace Hyprstream.Bench;

/// <summary>
/// `hyprstream bench store`: acknowledged update throughput per fsync policy and writer count, WAL recovery rate,
/// cache tier access latency for a Qwen3-1.7B-shaped adapter, and zstd ratios per data kind. The "never" policy is
/// the no-fsync baseline measured in the same run.
/// </summary>
internal static class StoreBenchmark
{
    public sealed record Row(string Section, string Metric, double Value, string Unit, string Note = "");

    public sealed record Settings(string Dir, double Seconds, int BatchWeights, int[] Writers, int RecoveryMb, int Layers, double Density, int Samples)
    {
        /// <summary>Which sections run: throughput, recovery, lookup, tiers, cold, trace (all by default).</summary>
        public IReadOnlySet<string> Sections { get; init; } = new HashSet<string> { "throughput", "recovery", "lookup", "tiers", "cold", "trace" };
        public int TraceAdapters { get; init; } = 200;
        public int TraceAccesses { get; init; } = 2000;
    }

    public static List<Row> Run(Settings s, Action<string> log)
    {
        var rows = new List<Row>();
        Directory.CreateDirectory(s.Dir);
        if (s.Sections.Contains("throughput"))
            foreach (var policy in new[] { FsyncPolicy.Never, FsyncPolicy.Always, FsyncPolicy.Batch(2) })
                foreach (var w in s.Writers)
                {
                    log($"throughput: fsync {policy}, {w} writers");
                    rows.AddRange(Throughput(s, policy, w));
                }
        if (s.Sections.Contains("recovery"))
        {
            log("recovery");
            rows.AddRange(Recovery(s));
        }
        if (s.Sections.Contains("lookup"))
        {
            log("lookup: known and unknown names among 10,000 adapters");
            rows.AddRange(LookupBenchmark.Run(s, log));
        }
        if (s.Sections.Contains("tiers"))
        {
            log($"tier latency: Qwen3-1.7B shapes, {s.Layers} layers, density {s.Density}");
            rows.AddRange(TierLatency(s, log));
        }
        if (s.Sections.Contains("cold"))
        {
            log($"cold start: Qwen3-1.7B shapes, {s.Layers} layers, density {s.Density}");
            rows.AddRange(ColdStartBenchmark.Run(s, log));
        }
        if (s.Sections.Contains("trace"))
        {
            log($"switching trace: {s.TraceAdapters} adapters, Zipf accesses, L1+L2 budget ~10%");
            rows.AddRange(SwitchingTraceBenchmark.Run(s, log));
        }
        return rows;
    }

    private static string Fresh(Settings s, string what)
    {
        var d = Path.Combine(s.Dir, what + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(d);
        return d;
    }

    private static IEnumerable<Row> Throughput(Settings s, FsyncPolicy policy, int writers)
    {
        var dir = Fresh(s, "tp");
        try
        {
            using var store = AdapterStore.Open(dir, new StoreOptions { Fsync = policy, CheckpointWalBytes = 0 });
            const int dim = 2048;
            for (int t = 0; t < writers; t++)
            {
                store.Create($"w{t}");
                store.Apply($"w{t}", new AdapterBatch().DefineModule("model.layers.0.mlp.up_proj", dim, dim));
            }
            long fsyncs0 = store.Stats().Fsyncs, batches = 0;
            var stop = Stopwatch.StartNew();
            var threads = Enumerable.Range(0, writers).Select(t => new Thread(() =>
            {
                var rng = new Random(t);
                var r = new int[s.BatchWeights]; var c = new int[s.BatchWeights]; var v = new float[s.BatchWeights];
                long local = 0;
                while (stop.Elapsed.TotalSeconds < s.Seconds)
                {
                    int row0 = rng.Next(dim), col0 = rng.Next(dim / 64) * 64;
                    for (int i = 0; i < s.BatchWeights; i++) { r[i] = (row0 + i / 64) % dim; c[i] = col0 + i % 64; v[i] = (float)(rng.NextDouble() - 0.5); }
                    store.Apply($"w{t}", new AdapterBatch().Set("model.layers.0.mlp.up_proj", r, c, v));
                    local++;
                }
                Interlocked.Add(ref batches, local);
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            double secs = stop.Elapsed.TotalSeconds;
            long fsyncs = store.Stats().Fsyncs - fsyncs0;
            var note = $"{writers} writers, {s.BatchWeights} weights/batch, {fsyncs} fsyncs ({(fsyncs == 0 ? 0 : (double)batches / fsyncs):F1} batches per fsync)";
            return
            [
                new Row("throughput", $"fsync {policy}, {writers} writers", batches / secs, "batches/s", note),
                new Row("throughput", $"fsync {policy}, {writers} writers", batches * (double)s.BatchWeights / secs, "weights/s", note),
            ];
        }
        finally { Directory.Delete(dir, true); }
    }

    private static IEnumerable<Row> Recovery(Settings s)
    {
        var dir = Fresh(s, "rec");
        try
        {
            long weights = 0;
            using (var store = AdapterStore.Open(dir, new StoreOptions { Fsync = FsyncPolicy.Never, CheckpointWalBytes = 0 }))
            {
                store.Create("r");
                store.Apply("r", new AdapterBatch().DefineModule("model.layers.0.mlp.up_proj", 6144, 2048));
                var rng = new Random(1);
                var r = new int[4096]; var c = new int[4096]; var v = new float[4096];
                while (store.Stats().WalBytes < (long)s.RecoveryMb << 20)
                {
                    for (int i = 0; i < r.Length; i++) { r[i] = rng.Next(6144); c[i] = rng.Next(2048); v[i] = (float)(rng.NextDouble() - 0.5); }
                    store.Apply("r", new AdapterBatch().Add("model.layers.0.mlp.up_proj", r, c, v));
                    weights += r.Length;
                }
            }
            long bytes = Directory.EnumerateFiles(Path.Combine(dir, "wal")).Sum(f => new FileInfo(f).Length);
            var sw = Stopwatch.StartNew();
            using var reopened = AdapterStore.Open(dir, new StoreOptions { CheckpointWalBytes = 0 });
            double secs = sw.Elapsed.TotalSeconds;
            var rep = reopened.Recovery;
            return
            [
                new Row("recovery", "WAL replayed", bytes / 1048576.0, "MB", $"{rep.RecordsReplayed} records, {weights:N0} weights (random adds, zstd-1 payloads)"),
                new Row("recovery", "replay rate", bytes / 1048576.0 / secs, "MB/s", $"{secs * 1000:F0} ms"),
                new Row("recovery", "time per GB of WAL", secs / (bytes / 1073741824.0), "s/GB", "extrapolated from the run above"),
            ];
        }
        finally { Directory.Delete(dir, true); }
    }

    private static IEnumerable<Row> TierLatency(Settings s, Action<string> log)
    {
        var rows = new List<Row>();
        var synth = SyntheticAdapter.Generate(ModelShapes.Qwen3_1_7B(s.Layers), s.Density, SparsityStructure.Tile, 42);
        var batch = new AdapterBatch();
        foreach (var m in synth.Modules) batch.DefineModule(m.Name, m.Rows, m.Cols);
        foreach (var m in synth.Modules) batch.Set(m.Name, m.RowIdx, m.ColIdx, m.Values);
        rows.AddRange(Ratios(synth));
        // (tier, L1 budget, L2 budget, L3 budget): each configuration leaves the adapter in exactly one place.
        var configs = new (string Tier, CacheBudgets Budgets)[]
        {
            ("L1 (decoded)", new CacheBudgets(8L << 30, 8L << 30, 8L << 30)),
            ("L2 (NanoVDB buffer in RAM)", new CacheBudgets(1, 8L << 30, 8L << 30)),
            ("L3 (mapped snapshot file)", new CacheBudgets(1, 1, 8L << 30)),
            ("snapshot .vdb (out of cache)", new CacheBudgets(1, 1, 1)),
        };
        foreach (var (tier, budgets) in configs)
        {
            var dir = Fresh(s, "tier");
            try
            {
                using var store = AdapterStore.Open(dir, new StoreOptions { Fsync = FsyncPolicy.Never, CheckpointWalBytes = 0, Budgets = budgets, PromoteAfter = int.MaxValue });
                store.Create("qwen", "Qwen/Qwen3-1.7B");
                store.Apply("qwen", batch);
                int n = tier.StartsWith("L1") ? 2000 : s.Samples;
                var lat = new double[n];
                long active = store.Read("qwen", a => a.ActiveCount);
                var (r0, c0) = (synth.Modules[0].RowIdx[0], synth.Modules[0].ColIdx[0]);
                for (int i = 0; i < n; i++)
                {
                    // One weight read: what is timed is getting the adapter usable from its tier, not a scan of it.
                    var t0 = Stopwatch.GetTimestamp();
                    store.Read("qwen", a => a.Modules[0].Get(r0, c0));
                    lat[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                }
                Array.Sort(lat);
                var st = store.Stats().Cache;
                var note = $"{n} reads, {active:N0} weights; L1/L2/L3 resident {st[CacheTier.L1].ResidentBytes / 1e6:F1}/{st[CacheTier.L2].ResidentBytes / 1e6:F1}/{st[CacheTier.L3].ResidentBytes / 1e6:F1} MB";
                rows.Add(new Row("tier latency", $"{tier} p50", lat[n / 2], "ms", note));
                rows.Add(new Row("tier latency", $"{tier} p99", lat[Math.Min(n - 1, (int)(n * 0.99))], "ms", note));
                log($"  {tier}: p50 {lat[n / 2]:F3} ms");
                if (tier.StartsWith("L1")) rows.AddRange(SnapshotTierLatency(store, s.Samples, log));
            }
            finally { Directory.Delete(dir, true); }
        }
        return rows;
    }

    /// <summary>The snapshot tier above L1 (the GPU tier under CUDA): a miss builds the NanoVDB snapshot, a hit is a lookup.</summary>
    private static IEnumerable<Row> SnapshotTierLatency(AdapterStore store, int samples, Action<string> log)
    {
        using var applier = ApplyBackends.Create();
        using var tier = new SnapshotTier(store, 8L << 30, applier);
        var miss = new double[samples];
        for (int i = 0; i < samples; i++)
        {
            tier.Evict("qwen");
            var t0 = Stopwatch.GetTimestamp();
            tier.Acquire("qwen").Dispose();
            miss[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        var hit = new double[2000];
        for (int i = 0; i < hit.Length; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            tier.Acquire("qwen").Dispose();
            hit[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        Array.Sort(miss);
        Array.Sort(hit);
        var st = tier.Stats();
        var note = $"{st.Device} snapshots ({applier.Device}), {st.ResidentBytes / 1e6:F1} MB resident, {st.Builds} builds, {st.Hits} hits";
        log($"  snapshot tier: build p50 {miss[samples / 2]:F1} ms, hit p50 {hit[hit.Length / 2] * 1000:F1} us");
        return
        [
            new Row("tier latency", "snapshot tier, build from L1 p50", miss[samples / 2], "ms", note),
            new Row("tier latency", "snapshot tier, hit p50", hit[hit.Length / 2], "ms", note),
            new Row("tier latency", "snapshot tier, hit p99", hit[(int)(hit.Length * 0.99)], "ms", note),
        ];
    }

    /// <summary>zstd ratios (raw / compressed) per data kind, on the synthetic adapter's own weights.</summary>
    private static IEnumerable<Row> Ratios(SyntheticAdapter synth)
    {
        var values = synth.Modules.SelectMany(m => m.Values).ToArray();
        var raw = MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        var half = new Half[values.Length];
        var bf16 = new ushort[values.Length];
        for (int i = 0; i < values.Length; i++) { half[i] = (Half)values[i]; bf16[i] = (ushort)(BitConverter.SingleToUInt32Bits(values[i]) >> 16); }
        var halfBytes = MemoryMarshal.AsBytes(half.AsSpan()).ToArray();
        var bfBytes = MemoryMarshal.AsBytes(bf16.AsSpan()).ToArray();
        Row Ratio(string kind, byte[] data, int width)
        {
            var planes = data;
            if (width > 1) { planes = new byte[data.Length]; ByteShuffle.Shuffle(data, planes, width); }
            var z = Zstd.Compress(planes, 3);
            return new Row("compression", kind, (double)data.Length / z.Length, "x", $"{data.Length / 1e6:F1} MB -> {z.Length / 1e6:F1} MB (zstd-3)");
        }
        var rowsIdx = MemoryMarshal.AsBytes(synth.Modules.SelectMany(m => m.RowIdx).ToArray().AsSpan()).ToArray();
        var payload = BatchCodec.Encode(Whole(synth));
        var emb = new float[1024 * 768];
        var rng = new Random(3);
        for (int i = 0; i < emb.Length; i++) emb[i] = (float)(rng.NextDouble() * 2 - 1);
        var embBytes = MemoryMarshal.AsBytes(emb.AsSpan()).ToArray();
        var list = new List<Row>
        {
            Ratio("float32 weights", raw, 1),
            Ratio("float32 weights, byte-shuffled", raw, 4),
            Ratio("half weights", halfBytes, 1),
            Ratio("half weights, byte-shuffled", halfBytes, 2),
            Ratio("bf16 weights", bfBytes, 1),
            Ratio("bf16 weights, byte-shuffled", bfBytes, 2),
            Ratio("row indices (int32), byte-shuffled", rowsIdx, 4),
            Ratio("whole batch (codec: shuffled rows/cols/values)", payload, 1),
            Ratio("embeddings 1024x768 float32, byte-shuffled", embBytes, 4),
        };
        // Many small objects (64-weight WAL batches): per-object zstd with and without a trained dictionary.
        var small = new List<byte[]>();
        var m0 = synth.Modules[0];
        for (int i = 0; i + 64 <= m0.Values.Length && small.Count < 2000; i += 64)
            small.Add(BatchCodec.Encode(new AdapterBatch().Set(m0.Name, m0.RowIdx[i..(i + 64)], m0.ColIdx[i..(i + 64)], m0.Values[i..(i + 64)])));
        if (small.Count >= 200)
        {
            var dict = Zstd.TrainDictionary(small.Take(small.Count / 2).ToList(), 8192);
            var test = small.Skip(small.Count / 2).ToList();
            long rawSum = test.Sum(x => (long)x.Length);
            long plain = test.Sum(x => (long)Zstd.Compress(x, 3).Length);
            long withDict = test.Sum(x => (long)Zstd.Compress(x, 3, dict).Length);
            list.Add(new Row("compression", "small batches (64 weights), no dictionary", (double)rawSum / plain, "x", $"{test.Count} objects of {rawSum / test.Count} B"));
            list.Add(new Row("compression", "small batches (64 weights), trained dictionary", (double)rawSum / withDict, "x", $"{dict.Length} B dictionary trained on {small.Count / 2} other batches"));
        }
        return list;
    }

    private static AdapterBatch Whole(SyntheticAdapter synth)
    {
        var b = new AdapterBatch();
        foreach (var m in synth.Modules) b.DefineModule(m.Name, m.Rows, m.Cols);
        foreach (var m in synth.Modules) b.Set(m.Name, m.RowIdx, m.ColIdx, m.Values);
        return b;
    }
}

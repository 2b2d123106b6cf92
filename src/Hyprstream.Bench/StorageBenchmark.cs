using Hyprstream.Runtime.Synthetic;
using System.Diagnostics;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Bytes;
using Hyprstream.Runtime.Store;

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

        if (structure == SparsityStructure.Tile) Tiles(adapter, dir, progress, Add);

        // float32 uncompressed: what the store's checkpoints write (Blosc does not shrink float32 weights).
        foreach (var (label, options) in new[] { ("float32", SaveOptions.Default), ("float32, no compression", new SaveOptions { Compression = FileCompression.None }), ("half", SaveOptions.Half) })
        {
            var path = Path.Combine(dir, $"bench-{structure}-{label.Replace(", ", "-").Replace(' ', '-')}.vdb");
            progress($"{s}: save {label}");
            double ts = Median(3, () => Timed(() => { adapter.Save(path, options); return 0; }).Seconds);
            long bytes = new FileInfo(path).Length;
            Add(options.Compression == FileCompression.Blosc ? $"on disk ({label} + Blosc)" : $"on disk ({label})", (double)bytes / n, "B/weight", label == "half" && structure == SparsityStructure.Tile ? "<= 2.5" : null);
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

    private sealed record ModuleTiles(string Name, int Rows, int Cols, int[] TileRows, int[] TileCols, float[] Values);

    /// <summary>
    /// Whole-tile I/O next to the per-weight baselines, in the same run: cursor reads (per weight vs per tile), SetMany
    /// vs SetTiles into empty modules, and staged Set vs SetTiles batches through the store (WAL, fsync never), with
    /// the store path taken apart (validate, codec, zstd + WAL record, apply). Rates count the adapter's weights.
    /// </summary>
    private static void Tiles(SparseAdapter adapter, string dir, Action<string> progress, Action<string, double, string, string?> add)
    {
        long n = adapter.ActiveCount;
        progress("tile: cursor reads");
        var rows = new int[65536]; var cols = new int[65536]; var vals = new float[65536];
        double tCursor = Median(3, () => Timed(() =>
        {
            long got = 0;
            foreach (var m in adapter.Modules)
                using (var c = m.OpenCursor()) { int k; while ((k = c.Read(rows, cols, vals)) > 0) got += k; }
            return got == n ? 0 : throw new InvalidOperationException($"cursor read {got} of {n}");
        }).Seconds);
        add("baseline: weight cursor read (64 K weights/call)", n / tCursor, "weights/s", null);

        const int Chunk = 256;
        var tr = new int[Chunk]; var tc = new int[Chunk]; var tv = new float[Chunk * TileMapping.TileSize];
        double tTiles = Median(5, () => Timed(() =>
        {
            long tiles = 0;
            foreach (var m in adapter.Modules)
                using (var c = m.OpenTileCursor()) { int k; while ((k = c.Read(tr, tc, tv)) > 0) tiles += k; }
            return tiles;
        }).Seconds);
        add($"tile cursor read ({Chunk} tiles/call)", n / tTiles, "weights/s", ">= 500 M/s");

        // The adapter's tiles as the tile flight would carry them.
        var data = adapter.Modules.Select(m =>
        {
            var list = new List<(int R, int C, float[] V)>();
            using (var c = m.OpenTileCursor()) { int k; while ((k = c.Read(tr, tc, tv)) > 0) for (int i = 0; i < k; i++) list.Add((tr[i], tc[i], tv.AsSpan(i * TileMapping.TileSize, TileMapping.TileSize).ToArray())); }
            return new ModuleTiles(m.Name, m.Rows, m.Cols, list.Select(x => x.R).ToArray(), list.Select(x => x.C).ToArray(), list.SelectMany(x => x.V).ToArray());
        }).ToList();
        var weights = adapter.Modules.Select(m => m.ReadActive()).ToList();

        progress("tile: SetMany vs SetTiles into empty modules");
        double tSetMany = Median(3, () =>
        {
            using var a = new SparseAdapter("set-many");
            var mods = data.Select(d => a.AddModule(d.Name, d.Rows, d.Cols)).ToList();
            return Timed(() => { for (int i = 0; i < mods.Count; i++) mods[i].SetMany(weights[i].Rows, weights[i].Cols, weights[i].Values); return 0; }).Seconds;
        });
        add("baseline: SetMany into empty modules", n / tSetMany, "weights/s", null);
        double tSetTiles = Median(5, () =>
        {
            using var a = new SparseAdapter("set-tiles");
            var mods = data.Select(d => a.AddModule(d.Name, d.Rows, d.Cols)).ToList();
            double t = Timed(() => { for (int i = 0; i < mods.Count; i++) mods[i].SetTiles(data[i].TileRows, data[i].TileCols, data[i].Values); return 0; }).Seconds;
            if (a.ActiveCount != n) throw new InvalidOperationException($"SetTiles stored {a.ActiveCount} of {n}");
            return t;
        });
        add("SetTiles into empty modules", n / tSetTiles, "weights/s", ">= 300 M/s");
        double tAddTiles = Median(3, () =>
        {
            using var a = new SparseAdapter("add-tiles");
            var mods = data.Select(d => a.AddModule(d.Name, d.Rows, d.Cols)).ToList();
            for (int i = 0; i < mods.Count; i++) mods[i].SetTiles(data[i].TileRows, data[i].TileCols, data[i].Values);
            return Timed(() => { for (int i = 0; i < mods.Count; i++) mods[i].AddTiles(data[i].TileRows, data[i].TileCols, data[i].Values); return 0; }).Seconds;
        });
        add("AddTiles onto the same stored tiles", n / tAddTiles, "weights/s", null);

        progress("tile: staged batches through the store (WAL, fsync never)");
        var options = new StoreOptions { Fsync = FsyncPolicy.Never, CheckpointWalBytes = 0 };
        // One warm-up run first: the first store of the process pays JIT and fresh pages for the WAL and the leaves.
        double Staged(string label, Func<int, AdapterBatch> batchOf)
        {
            return Median(3, () =>
            {
                var storeDir = Path.Combine(dir, "store-" + label);
                if (Directory.Exists(storeDir)) Directory.Delete(storeDir, true);
                using var store = AdapterStore.Open(storeDir, options);
                var define = new AdapterBatch();
                foreach (var d in data) define.DefineModule(d.Name, d.Rows, d.Cols);
                store.Create("bench", null, define);
                var batches = Enumerable.Range(0, data.Count).Select(batchOf).ToList();
                double t = Timed(() => { foreach (var b in batches) store.Stage("bench", b); return 0; }).Seconds;
                if (store.Info("bench").ActiveCount != n) throw new InvalidOperationException("the store lost weights");
                store.Dispose();
                Directory.Delete(storeDir, true);
                return t;
            }, warmUp: 1);
        }
        double tStoreSet = Staged("set", i => new AdapterBatch().Set(data[i].Name, weights[i].Rows, weights[i].Cols, weights[i].Values));
        add("baseline: staged Set batches through the store (one per module)", n / tStoreSet, "weights/s", null);
        double tStoreTiles = Staged("tiles", i => new AdapterBatch().SetTiles(data[i].Name, data[i].TileRows, data[i].TileCols, data[i].Values));
        add("staged SetTiles batches through the store (one per module)", n / tStoreTiles, "weights/s", ">= 60 M/s");

        // Where a staged tile batch's time goes: each stage alone over the same batches.
        var tileBatches = data.Select(d => new AdapterBatch().SetTiles(d.Name, d.TileRows, d.TileCols, d.Values)).ToList();
        double tBuild = Median(3, () => Timed(() => { foreach (var d in data) new AdapterBatch().SetTiles(d.Name, d.TileRows, d.TileCols, d.Values); return 0; }).Seconds);
        add("  store tile path: AdapterBatch.SetTiles (finite check)", n / tBuild, "weights/s", null);
        double tEncode = Median(3, () => Timed(() => { foreach (var b in tileBatches) BatchCodec.Encode(b); return 0; }).Seconds);
        add("  store tile path: BatchCodec.Encode (byte planes)", n / tEncode, "weights/s", null);
        var payloads = tileBatches.Select(BatchCodec.Encode).ToList();
        foreach (var (label, level) in new[] { ("zstd-1", 1), ($"zstd {Zstd.FloatPlanesLevel} + literals (the WAL's level for tiles)", Zstd.FloatPlanesLevel) })
        {
            double tZstd = Median(3, () => Timed(() => { foreach (var p in payloads) Zstd.Compress(p, level); return 0; }).Seconds);
            long raw = payloads.Sum(p => (long)p.Length), packed = payloads.Sum(p => (long)Zstd.Compress(p, level).Length);
            add($"  store tile path: {label}, {(double)packed / raw:P0} of the planes", n / tZstd, "weights/s", null);
        }
        // The WAL's write path: the record in a pooled buffer, the frame compressed in place.
        double tRecord = Median(3, () => Timed(() =>
        {
            foreach (var p in payloads)
                System.Buffers.ArrayPool<byte>.Shared.Return(WalRecord.EncodeRented(1, WalOp.Update, "bench", p, Zstd.FloatPlanesLevel, out _));
            return 0;
        }).Seconds);
        add("  store tile path: WalRecord.EncodeRented (zstd in place + CRC32C)", n / tRecord, "weights/s", null);
        double tDecode = Median(3, () => Timed(() => { foreach (var p in payloads) BatchCodec.Decode(p); return 0; }).Seconds);
        add("  store tile path: BatchCodec.Decode (replay)", n / tDecode, "weights/s", null);
    }

    private static double Median(int runs, Func<double> measure, int warmUp = 0)
    {
        for (int i = 0; i < warmUp; i++) measure();
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

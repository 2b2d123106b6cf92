using System.Diagnostics;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Apply;
using Hyprstream.Runtime.Bytes;
using Hyprstream.Runtime.Snapshots;
using Hyprstream.Runtime.Store;
using Hyprstream.Runtime.Synthetic;
using Row = Hyprstream.Bench.StoreBenchmark.Row;

namespace Hyprstream.Bench;

/// <summary>
/// `hyprstream bench store` (section "cold"): how long a cold adapter (Qwen3-1.7B shapes) takes to answer its first
/// DoGet batch (the store's read lease + the first 256 tiles, as the tile flight sends them) and its first CPU GEMM
/// (the snapshot the apply kernels read + one batch-1 GEMM on its first module), p50/p99, from each place it can be:
/// L1 (the grid), L2 (its NanoVDB buffer in RAM), L3 (its snapshot file, already mapped), its snapshot file mapped
/// afresh with the page cache warm, the same after dropping the page cache (root only), and the `.vdb` load this
/// replaces. Also, in the same run, the zstd frame in RAM that L2 held before (kept only if it wins somewhere: its
/// bytes are reported beside the snapshot's), and promotion of a mapped snapshot to a writable grid.
/// </summary>
internal static partial class ColdStartBenchmark
{
    private const int FirstBatchTiles = 256; // the service's tile batch

    public static IEnumerable<Row> Run(StoreBenchmark.Settings s, Action<string> log)
    {
        var rows = new List<Row>();
        var synth = SyntheticAdapter.Generate(ModelShapes.Qwen3_1_7B(s.Layers), s.Density, SparsityStructure.Tile, 42);
        var batch = new AdapterBatch();
        foreach (var m in synth.Modules) batch.DefineModule(m.Name, m.Rows, m.Cols);
        foreach (var m in synth.Modules) batch.Set(m.Name, m.RowIdx, m.ColIdx, m.Values);
        using var applier = new CpuApplier();
        var places = new (string Place, CacheBudgets Budgets, bool DropCache)[]
        {
            ("L1 (grid)", new CacheBudgets(8L << 30, 8L << 30, 0), false),
            ("L2 (NanoVDB buffer in RAM)", new CacheBudgets(1, 8L << 30, 0), false),
            ("L3 (snapshot file, mapped)", new CacheBudgets(1, 1, 8L << 30), false),
            ("mapped snapshot, page cache warm", new CacheBudgets(1, 1, 0), false),
            ("mapped snapshot, page cache dropped", new CacheBudgets(1, 1, 0), true),
        };
        long weights = 0;
        double vdbDoGet = double.NaN;
        foreach (var (place, budgets, drop) in places)
        {
            var dir = Path.Combine(s.Dir, "cold-" + Guid.NewGuid().ToString("N")[..8]);
            try
            {
                using var store = AdapterStore.Open(dir, new StoreOptions { Fsync = FsyncPolicy.Never, CheckpointWalBytes = 0, Budgets = budgets, PromoteAfter = int.MaxValue });
                store.Create("qwen", "Qwen/Qwen3-1.7B", batch);
                store.Checkpoint();
                weights = store.Info("qwen").ActiveCount;
                if (drop && !DropPageCache(out var why))
                {
                    rows.Add(new Row("cold start", $"{place}", double.NaN, "ms", $"skipped: {why}"));
                    log($"  {place}: skipped ({why})");
                    continue;
                }
                int n = drop ? Math.Max(3, s.Samples / 4) : s.Samples;
                var doGet = new double[n];
                var gemm = new double[n];
                var first = store.Info("qwen").Modules[0];
                var x = new float[first.Cols];
                var y = new float[first.Rows];
                for (int i = 0; i < n; i++)
                {
                    Settle(store, place, drop);
                    doGet[i] = Time(() => FirstDoGetBatch(store));
                    Settle(store, place, drop);
                    using var tier = new SnapshotTier(store, 8L << 30, applier);
                    gemm[i] = Time(() =>
                    {
                        using var lease = tier.Acquire("qwen");
                        applier.Gemm(lease.Snapshot, first.Name, x, y, 1);
                    });
                }
                var note = $"{n} samples, {weights:N0} weights; first DoGet batch = read lease + {FirstBatchTiles} tiles; first GEMM = snapshot + batch-1 GEMM on {first.Name}";
                rows.AddRange(Quantiles.Rows("cold start", $"{place}: first DoGet batch", doGet, note));
                rows.AddRange(Quantiles.Rows("cold start", $"{place}: first CPU GEMM", gemm, note));
                log($"  {place}: first DoGet batch p50 {Quantiles.Of(doGet, 0.5):F2} ms, first GEMM p50 {Quantiles.Of(gemm, 0.5):F2} ms");
                if (place.StartsWith("L2")) rows.AddRange(ZstdFrame(store, n, x, y, first.Name, applier, log));
                if (place.StartsWith("mapped snapshot, page cache warm"))
                {
                    rows.AddRange(VdbLoad(store, dir, s.Samples, x, y, first.Name, applier, out vdbDoGet, log));
                    rows.Add(Promotion(store, dir, s.Samples, log));
                    rows.AddRange(MapProfile(dir, s.Samples, log));
                    rows.Add(new Row("cold start", "mapped snapshot vs .vdb load, first DoGet batch", vdbDoGet / Quantiles.Of(doGet, 0.5), "x", "p50 over p50, same run"));
                }
            }
            finally { Directory.Delete(dir, true); }
        }
        rows.AddRange(Fp16Files(s, batch, applier, log));
        return rows;
    }

    /// <summary>Puts the adapter back where the row measures it from (a read may have promoted or mapped it).</summary>
    private static void Settle(AdapterStore store, string place, bool drop)
    {
        // L1 and L2 stay put (reads of L2 make private copies: PromoteAfter is never reached); the mapped rows evict,
        // which also unmaps the snapshot file, so every sample maps and checks it again.
        if (place.StartsWith("L1")) { store.Prefetch("qwen"); return; }
        if (place.StartsWith("L2") || place.StartsWith("L3"))
        {
            var want = place.StartsWith("L2") ? CacheTier.L2 : CacheTier.L3;
            if (want == CacheTier.L3 && store.TierOf("qwen") == null) store.OpenRead("qwen").Dispose(); // mapped once, kept
            if (store.TierOf("qwen") != want) throw new InvalidOperationException($"the benchmark adapter is in {store.TierOf("qwen")}, not {want}");
            return;
        }
        if (!store.Evict("qwen")) throw new InvalidOperationException("the benchmark adapter could not be evicted");
        if (drop) DropPageCache(out _);
    }

    private static void FirstDoGetBatch(AdapterStore store)
    {
        using var reader = store.OpenRead("qwen");
        var tr = new int[FirstBatchTiles];
        var tc = new int[FirstBatchTiles];
        var v = new float[FirstBatchTiles * 512];
        int got = 0;
        foreach (var m in reader.Modules)
        {
            using var c = m.OpenTiles();
            int k;
            while (got < FirstBatchTiles && (k = c.Read(tr.AsSpan(got), tc.AsSpan(got), v.AsSpan(got * 512))) > 0) got += k;
            if (got == FirstBatchTiles) break;
        }
    }

    /// <summary>
    /// The form L2 held before NanoVDB buffers: the adapter's batch-codec encoding in one zstd-1 frame. A read decoded
    /// it into a grid (then read 256 tiles); a GEMM also converted that grid to a snapshot. Its size is the one thing
    /// it could win on.
    /// </summary>
    private static IEnumerable<Row> ZstdFrame(AdapterStore store, int n, float[] x, float[] y, string module, IAdapterApplier applier, Action<string> log)
    {
        byte[] frame;
        long snapshotBytes;
        using (var a = store.Get("qwen"))
        {
            frame = Zstd.Compress(BatchCodec.EncodeAdapter(a.BaseModel, AdapterBatch.FromAdapter(a)), 1);
            using var snap = AdapterSnapshot.Create(a);
            snapshotBytes = snap.ByteSize;
        }
        SparseAdapter Decode()
        {
            var (baseModel, content) = BatchCodec.DecodeAdapter(Zstd.Decompress(frame));
            return content.Build("qwen", baseModel, validate: false);
        }
        var doGet = new double[n];
        var gemm = new double[n];
        for (int i = 0; i < n; i++)
        {
            doGet[i] = Time(() =>
            {
                using var a = Decode();
                using var c = a.Modules[0].OpenTileCursor();
                var tr = new int[FirstBatchTiles]; var tc = new int[FirstBatchTiles]; var v = new float[FirstBatchTiles * 512];
                c.Read(tr, tc, v);
            });
            gemm[i] = Time(() =>
            {
                using var a = Decode();
                using var snap = AdapterSnapshot.Create(a);
                applier.Gemm(snap, module, x, y, 1);
            });
        }
        log($"  zstd frame in RAM (the former L2): first DoGet batch p50 {Quantiles.Of(doGet, 0.5):F1} ms, first GEMM p50 {Quantiles.Of(gemm, 0.5):F1} ms; " +
            $"{frame.Length / 1e6:F1} MB vs {snapshotBytes / 1e6:F1} MB as a NanoVDB buffer");
        var note = $"{n} samples; the frame is {frame.Length / 1e6:F1} MB, the NanoVDB buffer {snapshotBytes / 1e6:F1} MB";
        return
        [
            .. Quantiles.Rows("cold start", "zstd frame in RAM (former L2, removed): first DoGet batch", doGet, note),
            .. Quantiles.Rows("cold start", "zstd frame in RAM (former L2, removed): first CPU GEMM", gemm, note),
            new Row("cold start", "NanoVDB buffer bytes / zstd frame bytes (what zstd saves in L2)", (double)snapshotBytes / frame.Length, "x", note),
        ];
    }

    /// <summary>What the mapped snapshot replaces: loading the checkpoint `.vdb` (and converting it for the GEMM).</summary>
    private static IEnumerable<Row> VdbLoad(AdapterStore store, string dir, int n, float[] x, float[] y, string module, IAdapterApplier applier,
        out double doGetP50, Action<string> log)
    {
        var vdb = Directory.GetFiles(Path.Combine(dir, AdapterStore.CheckpointFolder), "*.vdb").Single();
        var doGet = new double[n];
        var gemm = new double[n];
        for (int i = 0; i < n; i++)
        {
            doGet[i] = Time(() =>
            {
                using var a = SparseAdapter.Load(vdb);
                using var c = a.Modules[0].OpenTileCursor();
                var tr = new int[FirstBatchTiles]; var tc = new int[FirstBatchTiles]; var v = new float[FirstBatchTiles * 512];
                c.Read(tr, tc, v);
            });
            gemm[i] = Time(() =>
            {
                using var a = SparseAdapter.Load(vdb);
                using var snap = AdapterSnapshot.Create(a);
                applier.Gemm(snap, module, x, y, 1);
            });
        }
        doGetP50 = Quantiles.Of(doGet, 0.5);
        log($"  .vdb load: first DoGet batch p50 {doGetP50:F1} ms, first GEMM p50 {Quantiles.Of(gemm, 0.5):F1} ms");
        var note = $"{n} samples, {new FileInfo(vdb).Length / 1e6:F1} MB .vdb in the page cache";
        return [.. Quantiles.Rows("cold start", ".vdb load (replaced): first DoGet batch", doGet, note), .. Quantiles.Rows("cold start", ".vdb load (replaced): first CPU GEMM", gemm, note)];
    }

    /// <summary>
    /// Where the warm mapped row's time goes: opening the snapshot file alone (mmap, header and NanoVDB structural
    /// checks, the module table, the C# leaf and tile index), without and with the full CRC32C, outside the store.
    /// </summary>
    private static IEnumerable<Row> MapProfile(string dir, int n, Action<string> log)
    {
        var nvdb = Directory.GetFiles(Path.Combine(dir, AdapterStore.CheckpointFolder), "*.nvdb").Single();
        var open = new double[n];
        var crc = new double[n];
        for (int i = 0; i < n; i++)
        {
            open[i] = Time(() => AdapterSnapshot.Map(nvdb, verifyChecksum: false).Dispose());
            crc[i] = Time(() => AdapterSnapshot.Map(nvdb, verifyChecksum: true).Dispose());
        }
        log($"  profile: open the mapped file (structural checks + index) p50 {Quantiles.Of(open, 0.5):F1} ms, with CRC32C {Quantiles.Of(crc, 0.5):F1} ms");
        var note = $"{n} samples, {new FileInfo(nvdb).Length / 1e6:F1} MB file in the page cache, map + dispose, no weight read";
        return [.. Quantiles.Rows("cold start", "profile: open the snapshot file (mmap, structural checks, table, leaf index)", open, note),
                .. Quantiles.Rows("cold start", "profile: the same with the full CRC32C (files from elsewhere)", crc, note)];
    }

    /// <summary>A write to a cold adapter: its mapped snapshot made into a writable grid by copying leaves.</summary>
    private static Row Promotion(AdapterStore store, string dir, int n, Action<string> log)
    {
        var nvdb = Directory.GetFiles(Path.Combine(dir, AdapterStore.CheckpointFolder), "*.nvdb").Single();
        using var snap = AdapterSnapshot.Map(nvdb, verifyChecksum: true);
        var t = new double[n];
        long weights = snap.ActiveCount;
        for (int i = 0; i < n; i++) t[i] = Time(() => snap.ToAdapter().Dispose());
        double p50 = Quantiles.Of(t, 0.5);
        log($"  promotion: p50 {p50:F1} ms, {weights / (p50 / 1000) / 1e6:F0} M weights/s");
        return new Row("cold start", "promotion to a writable grid (copying leaves)", weights / (p50 / 1000), "weights/s",
            $"p50 {p50:F1} ms (p99 {Quantiles.Of(t, 0.99):F1} ms) for {weights:N0} weights, {n} samples, incl. disposing the grid");
    }

    private static bool DropPageCache(out string why)
    {
        try
        {
            using (var p = Process.Start(new ProcessStartInfo("sync") { UseShellExecute = false })!) p.WaitForExit();
            File.WriteAllText("/proc/sys/vm/drop_caches", "1");
            why = "";
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.ComponentModel.Win32Exception)
        {
            why = $"cannot drop the page cache ({e.Message}); needs root";
            return false;
        }
    }

    private static double Time(Action a)
    {
        var t0 = Stopwatch.GetTimestamp();
        a();
        return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }
}

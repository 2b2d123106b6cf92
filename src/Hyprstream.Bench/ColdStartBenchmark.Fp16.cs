using Hyprstream.Runtime;
using Hyprstream.Runtime.Apply;
using Hyprstream.Runtime.Snapshots;
using Hyprstream.Runtime.Store;
using Row = Hyprstream.Bench.StoreBenchmark.Row;

namespace Hyprstream.Bench;

/// <summary>`bench store --sections cold`, its Fp16 rows: the Fp16 snapshot file a store with SnapshotFp16 writes at each checkpoint.</summary>
internal static partial class ColdStartBenchmark
{
    /// <summary>
    /// The Fp16 snapshot file (StoreOptions.SnapshotFp16, `serve --snapshot-fp16`) against the float32 one, interleaved
    /// in one loop: bytes per weight of each file, and the first CPU GEMM of a cold adapter from each, mapped afresh
    /// (page cache warm), beside what an Fp16 tier pays in a store without the file (promotion + conversion).
    /// </summary>
    private static IEnumerable<Row> Fp16Files(StoreBenchmark.Settings s, AdapterBatch batch, IAdapterApplier applier, Action<string> log)
    {
        var withFile = Path.Combine(s.Dir, "cold16-" + Guid.NewGuid().ToString("N")[..8]);
        var without = Path.Combine(s.Dir, "cold16-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var options = new StoreOptions { Fsync = FsyncPolicy.Never, CheckpointWalBytes = 0, Budgets = new CacheBudgets(8L << 30, 1, 0), PromoteAfter = int.MaxValue };
            using var a = AdapterStore.Open(withFile, options with { SnapshotFp16 = true });
            using var b = AdapterStore.Open(without, options);
            foreach (var store in new[] { a, b })
            {
                store.Create("qwen", "Qwen/Qwen3-1.7B", batch);
                store.Checkpoint();
            }
            long weights = a.Info("qwen").ActiveCount;
            var folder = Path.Combine(withFile, AdapterStore.CheckpointFolder);
            var f32File = Directory.GetFiles(folder, "*.nvdb").Single(f => !f.EndsWith(".fp16.nvdb", StringComparison.Ordinal));
            var f16File = Directory.GetFiles(folder, "*.fp16.nvdb").Single();
            double f32Bytes = (double)new FileInfo(f32File).Length / weights, f16Bytes = (double)new FileInfo(f16File).Length / weights;
            var first = a.Info("qwen").Modules[0];
            var x = new float[first.Cols];
            var y = new float[first.Rows];
            int n = s.Samples;
            var f32 = new double[n];
            var f16 = new double[n];
            var converted = new double[n];
            double FirstGemm(AdapterStore store, SnapshotPrecision precision, bool wantMapped)
            {
                if (!store.Evict("qwen")) throw new InvalidOperationException("the benchmark adapter could not be evicted");
                using var tier = new SnapshotTier(store, 8L << 30, applier, precision);
                bool mapped = false;
                var ms = Time(() =>
                {
                    using var lease = tier.Acquire("qwen");
                    mapped = lease.Snapshot.IsMapped;
                    applier.Gemm(lease.Snapshot, first.Name, x, y, 1);
                });
                if (mapped != wantMapped) throw new InvalidOperationException($"the {precision} snapshot was {(mapped ? "" : "not ")}a mapped file");
                return ms;
            }
            for (int i = 0; i < n; i++)
            {
                f32[i] = FirstGemm(a, SnapshotPrecision.Float32, true);
                f16[i] = FirstGemm(a, SnapshotPrecision.Fp16, true);
                converted[i] = FirstGemm(b, SnapshotPrecision.Fp16, false);
            }
            // From disk: the page cache dropped before each (root only); the smaller file reads fewer pages.
            int nd = Math.Max(3, n / 4);
            var f32Cold = new double[nd];
            var f16Cold = new double[nd];
            bool dropped = DropPageCache(out var why);
            for (int i = 0; dropped && i < nd; i++)
            {
                DropPageCache(out _);
                f32Cold[i] = FirstGemm(a, SnapshotPrecision.Float32, true);
                DropPageCache(out _);
                f16Cold[i] = FirstGemm(a, SnapshotPrecision.Fp16, true);
            }
            log($"  fp16 snapshot file: {f16Bytes:F2} B/weight (float32 file {f32Bytes:F2}); first CPU GEMM p50 {Quantiles.Of(f16, 0.5):F2} ms " +
                $"(float32 file {Quantiles.Of(f32, 0.5):F2} ms, fp16 converted without the file {Quantiles.Of(converted, 0.5):F1} ms)");
            var note = $"{n} samples, interleaved, {weights:N0} weights; first GEMM = tier lease + batch-1 GEMM on {first.Name}";
            var coldNote = $"{nd} samples, interleaved, page cache dropped before each";
            IEnumerable<Row> fromDisk = dropped
                ?
                [
                    .. Quantiles.Rows("cold start", "float32 snapshot file, page cache dropped: first CPU GEMM", f32Cold, coldNote),
                    .. Quantiles.Rows("cold start", "fp16 snapshot file, page cache dropped: first CPU GEMM", f16Cold, coldNote),
                ]
                : [new Row("cold start", "snapshot files, page cache dropped", double.NaN, "ms", $"skipped: {why}")];
            if (dropped)
                log($"  page cache dropped: first CPU GEMM p50 float32 file {Quantiles.Of(f32Cold, 0.5):F1} ms, fp16 file {Quantiles.Of(f16Cold, 0.5):F1} ms");
            return
            [
                new Row("cold start", "snapshot file bytes/weight: float32 (.nvdb)", f32Bytes, "B/weight", $"{new FileInfo(f32File).Length / 1e6:F1} MB"),
                new Row("cold start", "snapshot file bytes/weight: fp16 (.fp16.nvdb)", f16Bytes, "B/weight", $"{new FileInfo(f16File).Length / 1e6:F1} MB"),
                .. Quantiles.Rows("cold start", "float32 snapshot file mapped afresh: first CPU GEMM", f32, note),
                .. Quantiles.Rows("cold start", "fp16 snapshot file mapped afresh: first CPU GEMM", f16, note),
                .. Quantiles.Rows("cold start", "fp16 converted, store without the file (promotion + conversion): first CPU GEMM", converted, note),
                new Row("cold start", "fp16 file vs fp16 conversion, first CPU GEMM", Quantiles.Of(converted, 0.5) / Quantiles.Of(f16, 0.5), "x", "p50 over p50, same run"),
                .. fromDisk,
            ];
        }
        finally
        {
            foreach (var d in new[] { withFile, without }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }
}

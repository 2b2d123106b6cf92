using System.Diagnostics;
using Hyprstream.Runtime.Store;
using Row = Hyprstream.Bench.StoreBenchmark.Row;

namespace Hyprstream.Bench;

/// <summary>
/// `hyprstream bench store` (section "lookup"): the store's name lookups (<see cref="AdapterStore.Contains"/>) of
/// known and unknown names among many adapters, against the plain lookup they would be without a negative filter
/// (a lock and a hash-table probe), measured in the same run. Decides whether a Bloom filter in front of the
/// in-memory table pays (issue 14: it goes unless it measurably helps).
/// </summary>
internal static class LookupBenchmark
{
    public static IEnumerable<Row> Run(StoreBenchmark.Settings s, Action<string> log)
    {
        const int adapters = 10_000, lookups = 2_000_000;
        var dir = Path.Combine(s.Dir, "lookup-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            using var store = AdapterStore.Open(dir, new StoreOptions { Fsync = FsyncPolicy.Never, CheckpointWalBytes = 0 });
            var table = new System.Collections.Concurrent.ConcurrentDictionary<string, object>(StringComparer.Ordinal);
            var gate = new object();
            for (int i = 0; i < adapters; i++)
            {
                var name = $"tenant-{i:D5}-adapter";
                store.CreateIfMissing(name);
                table[name] = gate;
            }
            var known = Enumerable.Range(0, 4096).Select(i => $"tenant-{i * 7 % adapters:D5}-adapter").ToArray();
            var unknown = Enumerable.Range(0, 4096).Select(i => $"tenant-{i:D5}-other").ToArray();
            var rows = new List<Row>();
            foreach (var (kind, names) in new[] { ("known", known), ("unknown", unknown) })
            {
                // Interleaved rounds, best of five each: the 2-core machine is shared.
                double storeNs = double.MaxValue, plainNs = double.MaxValue;
                for (int round = 0; round < 5; round++)
                {
                    storeNs = Math.Min(storeNs, Time(lookups, i => store.Contains(names[i & 4095])));
                    plainNs = Math.Min(plainNs, Time(lookups, i => { lock (gate) return table.ContainsKey(names[i & 4095]); }));
                }
                var note = $"{adapters:N0} adapters, {lookups:N0} lookups, best of 5 interleaved rounds";
                rows.Add(new Row("lookup", $"store Contains, {kind} name", storeNs, "ns", note));
                rows.Add(new Row("lookup", $"baseline: lock + hash-table probe, {kind} name", plainNs, "ns", note));
                log($"  {kind}: store {storeNs:F1} ns, lock + table {plainNs:F1} ns");
            }
            return rows;
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    private static double Time(int n, Func<int, bool> lookup)
    {
        int found = 0;
        var t0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < n; i++) if (lookup(i)) found++;
        var ns = Stopwatch.GetElapsedTime(t0).TotalNanoseconds / n;
        GC.KeepAlive(found);
        return ns;
    }
}

using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Hyprstream.Runtime.Store;

/// <summary>
/// One open store's instruments (System.Diagnostics.Metrics, meter <see cref="MeterName"/>), made only when
/// <see cref="StoreOptions.Metrics"/> asks for them. Gauges and counters that the store already counts are observable
/// instruments reading <see cref="AdapterStore.Stats"/> when a listener collects (one snapshot per collection, not
/// one per instrument); only what has no running total is recorded as it happens: fsync and checkpoint durations,
/// checkpoint failures. Names follow OpenTelemetry's conventions (dots, units apart); an exporter turns them into
/// Prometheus names (hyprstream_wal_fsync_duration_seconds, …). Holds no exporter: whoever serves the store picks one.
/// Labels stay bounded: a cache tier (L1, L2, L3) or a kind of file, never an adapter's name.
/// </summary>
public sealed class StoreMetrics : IDisposable
{
    public const string MeterName = "Hyprstream.Store";

    /// <summary>Fsync latencies: 50 µs (page cache on tmpfs) to 5 s (a stalled disk).</summary>
    private static readonly double[] FsyncBuckets = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];
    private static readonly double[] CheckpointBuckets = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

    private readonly Meter _meter;
    private readonly AdapterStore _store;
    private readonly Histogram<double> _fsyncSeconds, _checkpointSeconds;
    private readonly Counter<long> _checkpointFailures;
    private readonly object _gate = new();
    private StoreStats? _snapshot;
    private long _snapshotAt;

    internal StoreMetrics(AdapterStore store)
    {
        _store = store;
        _meter = new Meter(MeterName, "1.0");
        _fsyncSeconds = _meter.CreateHistogram("hyprstream.wal.fsync.duration", "s", "time one WAL fsync took (group commit: one fsync covers every record written before it)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = FsyncBuckets });
        _checkpointSeconds = _meter.CreateHistogram("hyprstream.checkpoint.duration", "s", "time one checkpoint took (WAL folded into .vdb files)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = CheckpointBuckets });
        _checkpointFailures = _meter.CreateCounter<long>("hyprstream.checkpoint.failures", null, "checkpoints that failed (nothing is lost: the WAL still holds every change)");

        _meter.CreateObservableGauge("hyprstream.store.adapters", () => (long)Stats().Adapters, null, "adapters in the store (served ones; quarantined ones apart)");
        _meter.CreateObservableGauge("hyprstream.store.quarantined", () => (long)Stats().Quarantined.Count, null, "adapters not served because a WAL record of theirs could not be replayed");
        _meter.CreateObservableGauge("hyprstream.store.active_weights", () => _store.Described().Active, null,
            "stored (non-zero) weights of the adapters described since their last change (every adapter the stats action or a flight listing has seen)");
        _meter.CreateObservableGauge("hyprstream.store.sparsity.ratio", () => _store.Described().Sparsity, null,
            "fraction of the described adapters' weights that are zero, over all their modules (1 − active / rows·cols)");
        _meter.CreateObservableGauge("hyprstream.store.disk", DiskBytes, "By", "bytes on disk by kind: checkpoint (.vdb files) and wal (segments not yet folded)");

        _meter.CreateObservableGauge("hyprstream.cache.resident", () => PerTier(t => t.ResidentBytes), "By", "bytes held per cache tier (L1 writable grids, L2 NanoVDB snapshot buffers in RAM, L3 mapped snapshot files)");
        _meter.CreateObservableGauge("hyprstream.cache.budget", () => PerTier(t => t.BudgetBytes), "By", "each cache tier's budget");
        _meter.CreateObservableGauge("hyprstream.cache.entries", () => PerTier(t => t.Entries), null, "adapters held per cache tier");
        _meter.CreateObservableGauge("hyprstream.cache.pinned", () => (long)Stats().Cache.Pinned, null, "adapters pinned in L1");
        _meter.CreateObservableCounter("hyprstream.cache.lookups", () => Stats().Cache.Lookups, null, "cache lookups (every read or write of an adapter)");
        _meter.CreateObservableCounter("hyprstream.cache.hits", () => PerTier(t => t.Hits), null, "lookups found in a tier");
        _meter.CreateObservableCounter("hyprstream.cache.misses", () => Stats().Cache.Misses, null, "lookups found in no tier (the checkpoint's snapshot file is mapped, or loaded into a grid)");
        _meter.CreateObservableCounter("hyprstream.cache.cold_loads", () => Stats().Cache.ColdLoads, null, "adapters made into a grid from their checkpoint's snapshot file (a write or a grid read of an adapter in no tier)");
        _meter.CreateObservableCounter("hyprstream.cache.evictions", () => PerTier(t => t.Evictions), null, "adapters moved out of a tier (down one tier, or out)");
        _meter.CreateObservableCounter("hyprstream.cache.promotions", () => PerTier(t => t.Promotions), null, "adapters moved up to L1 from a tier");
        _meter.CreateObservableCounter("hyprstream.cache.write_backs", () => Stats().Cache.WriteBacks, null, "changed adapters checkpointed on their way out of the cache");
        _meter.CreateObservableCounter("hyprstream.cache.spills", () => Stats().Cache.Spills, null, "changed adapters' snapshots written to L3 spill files (cache/*.nvdb) on their way down");

        _meter.CreateObservableCounter("hyprstream.wal.appends", () => Stats().WalRecordsAppended, null, "WAL records appended since start");
        _meter.CreateObservableCounter("hyprstream.wal.appended", () => Stats().WalBytesAppended, "By", "WAL bytes appended since start");
        _meter.CreateObservableCounter("hyprstream.wal.fsyncs", () => Stats().Fsyncs, null, "WAL fsyncs since start");
        _meter.CreateObservableGauge("hyprstream.wal.last_sequence", () => (long)Stats().LastSequence, null, "sequence number of the last WAL record");
        _meter.CreateObservableCounter("hyprstream.checkpoints", () => Stats().Checkpoints, null, "checkpoints completed since start");
        _meter.CreateObservableGauge("hyprstream.checkpoint.failures_in_a_row", () => (long)_store.CheckpointFailuresInARow, null,
            "checkpoints that failed since the last one that succeeded (the service is not ready from 3 on)");

        _meter.CreateObservableGauge("hyprstream.recovery.duration", () => _store.Recovery.Elapsed.TotalSeconds, "s", "time the last open took to replay the WAL");
        _meter.CreateObservableGauge("hyprstream.recovery.records_replayed", () => _store.Recovery.RecordsReplayed, null, "WAL records replayed by the last open");
        _meter.CreateObservableGauge("hyprstream.recovery.dropped", () => _store.Recovery.DroppedBytes, "By", "bytes of torn or corrupt WAL tail the last open dropped");
    }

    /// <summary>One WAL fsync ended; <paramref name="started"/> is its <see cref="Stopwatch.GetTimestamp"/>.</summary>
    internal void Fsynced(long started) => _fsyncSeconds.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);

    /// <summary>One checkpoint ended (or failed).</summary>
    internal void Checkpointed(long started, bool ok)
    {
        _checkpointSeconds.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("outcome", ok ? "ok" : "failed"));
        if (!ok) _checkpointFailures.Add(1);
    }

    /// <summary>The store's numbers, taken at most once per 200 ms: one collection reads every instrument.</summary>
    private StoreStats Stats()
    {
        lock (_gate)
        {
            if (_snapshot == null || Stopwatch.GetElapsedTime(_snapshotAt) > TimeSpan.FromMilliseconds(200))
            {
                _snapshot = _store.Stats();
                _snapshotAt = Stopwatch.GetTimestamp();
            }
            return _snapshot;
        }
    }

    private IEnumerable<Measurement<long>> PerTier(Func<TierStats, long> value) =>
        Stats().Cache.Tiers.Select(t => new Measurement<long>(value(t), new KeyValuePair<string, object?>("tier", t.Tier.ToString()))).ToList();

    private IEnumerable<Measurement<long>> DiskBytes()
    {
        var st = Stats();
        return [new(st.CheckpointBytes, new KeyValuePair<string, object?>("kind", "checkpoint")), new(st.WalBytes, new KeyValuePair<string, object?>("kind", "wal"))];
    }

    public void Dispose() => _meter.Dispose();
}

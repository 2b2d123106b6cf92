using Hyprstream.Runtime.Store;

namespace Hyprstream.Service;

/// <summary>The store's numbers as the snake_case JSON the `stats` action and `info --store --json` print.</summary>
public static class StoreJson
{
    public static object Describe(StoreStats st) => new
    {
        adapters = st.Adapters,
        fsync = st.Fsync,
        wal_bytes = st.WalBytes,
        wal_records_appended = st.WalRecordsAppended,
        wal_bytes_appended = st.WalBytesAppended,
        fsyncs = st.Fsyncs,
        last_sequence = st.LastSequence,
        checkpoints = st.Checkpoints,
        snapshot_bytes = st.CheckpointBytes,
        checkpoint_failures = st.CheckpointHealth is { } h ? new
        {
            in_a_row = h.FailuresInARow,
            total = h.FailuresTotal,
            last_error = h.LastError,
            last_failure_utc = h.LastFailureUtc,
            writes_refused = h.WritesRefused,
        } : null,
        snapshot_rebuilds = st.SnapshotRebuilds,
        promotions = new { count = st.Promotions, weights = st.PromotedWeights, milliseconds = Math.Round(st.PromotionTime.TotalMilliseconds, 1) },
        cache = new
        {
            tiers = st.Cache.Tiers.Select(t => new
            {
                tier = t.Tier.ToString(),
                budget_bytes = t.BudgetBytes,
                resident_bytes = t.ResidentBytes,
                entries = t.Entries,
                hits = t.Hits,
                promotions = t.Promotions,
                evictions = t.Evictions,
            }).ToList(),
            lookups = st.Cache.Lookups,
            misses = st.Cache.Misses,
            cold_loads = st.Cache.ColdLoads,
            write_backs = st.Cache.WriteBacks,
            snapshot_maps = st.Cache.SnapshotMaps,
            snapshot_hits = st.Cache.SnapshotHits,
            snapshots_mapped = st.Cache.SnapshotsMapped,
            spills = st.Cache.Spills,
            pinned = st.Cache.Pinned,
        },
        quarantined = st.Quarantined.Select(q => new { adapter = q.Name, reason = q.Reason, sequence = q.FailedSequence, records_file = q.RecordsFile }).ToList(),
        recovery = new
        {
            quarantined_adapters = st.Recovery.QuarantinedAdapters,
            records_held = st.Recovery.RecordsHeld,
            records_replayed = st.Recovery.RecordsReplayed,
            records_skipped = st.Recovery.RecordsSkipped,
            wal_bytes_read = st.Recovery.WalBytesRead,
            dropped_bytes = st.Recovery.DroppedBytes,
            drop_reason = st.Recovery.DropReason,
            orphans_removed = st.Recovery.OrphansRemoved,
            milliseconds = Math.Round(st.Recovery.Elapsed.TotalMilliseconds, 1),
        },
    };
}

namespace Hyprstream.Runtime.Store;

/// <summary>The store's numbers: cache tiers, WAL, checkpoints.</summary>
public sealed record StoreStats(CacheStats Cache, string Fsync, long WalBytes, long WalRecordsAppended, long WalBytesAppended, long Fsyncs,
    ulong LastSequence, long Checkpoints, long CheckpointBytes, int Adapters, RecoveryReport Recovery, IReadOnlyList<QuarantinedAdapter> Quarantined)
{
    /// <summary>Failed checkpoints and whether writes are refused because of them.</summary>
    public CheckpointHealth? CheckpointHealth { get; init; }
    /// <summary>Snapshot files that were missing or failed a check and were rebuilt from their checkpoint.</summary>
    public long SnapshotRebuilds { get; init; }
    /// <summary>Promotions of a cold adapter to a writable grid (copying leaves from its snapshot), their weights and time.</summary>
    public long Promotions { get; init; }
    public long PromotedWeights { get; init; }
    public TimeSpan PromotionTime { get; init; }
}

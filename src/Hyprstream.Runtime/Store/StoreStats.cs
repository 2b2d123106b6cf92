namespace Hyprstream.Runtime.Store;

/// <summary>The store's numbers: cache tiers, WAL, checkpoints.</summary>
public sealed record StoreStats(CacheStats Cache, string Fsync, long WalBytes, long WalRecordsAppended, long WalBytesAppended, long Fsyncs,
    ulong LastSequence, long Checkpoints, long CheckpointBytes, int Adapters, RecoveryReport Recovery, IReadOnlyList<QuarantinedAdapter> Quarantined);

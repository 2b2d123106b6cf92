namespace Hyprstream.Runtime.Store;

/// <summary>What opening a store found and did: replayed records, and what was dropped from a torn or corrupt tail.</summary>
public sealed record RecoveryReport(int Adapters, int SegmentsRead, long RecordsReplayed, long RecordsSkipped, long WalBytesRead,
    long DroppedBytes, string? DropReason, int OrphansRemoved, TimeSpan Elapsed)
{
    /// <summary>Adapters not served because a record of theirs could not be replayed (see <see cref="AdapterStore.Quarantined"/>).</summary>
    public int QuarantinedAdapters { get; init; }
    /// <summary>Records of quarantined adapters kept for repair instead of replayed.</summary>
    public long RecordsHeld { get; init; }
    /// <summary>The highest WAL sequence found.</summary>
    public ulong LastSequence { get; init; }
    public bool Clean => DroppedBytes == 0 && QuarantinedAdapters == 0;
    public override string ToString() =>
        $"{Adapters} adapters, {RecordsReplayed} WAL records replayed ({RecordsSkipped} already in snapshots) from {WalBytesRead} B in {Elapsed.TotalMilliseconds:F0} ms" +
        (DroppedBytes > 0 ? $"; dropped {DroppedBytes} B of torn/corrupt tail ({DropReason})" : "") +
        (OrphansRemoved > 0 ? $"; removed {OrphansRemoved} leftover files" : "") +
        (QuarantinedAdapters > 0 ? $"; {QuarantinedAdapters} adapters QUARANTINED ({RecordsHeld} records held; run `hyprstream store repair`)" : "");
}

/// <summary>The store's numbers: cache tiers, WAL, snapshots.</summary>
public sealed record StoreStats(CacheStats Cache, string Fsync, long WalBytes, long WalRecordsAppended, long WalBytesAppended, long Fsyncs,
    ulong LastSequence, long Checkpoints, long SnapshotBytes, int Adapters, RecoveryReport Recovery, IReadOnlyList<QuarantinedAdapter> Quarantined);

public sealed record StoreOptions
{
    public FsyncPolicy Fsync { get; init; } = FsyncPolicy.Default;
    public CacheBudgets Budgets { get; init; } = CacheBudgets.Default;
    /// <summary>A reader's hit in L2/L3 moves the adapter to L1 on this many hits in a row.</summary>
    public int PromoteAfter { get; init; } = 2;
    /// <summary>The background snapshotter folds the WAL once it holds this many bytes (0: never in the background).</summary>
    public long SnapshotWalBytes { get; init; } = 64L << 20;
}

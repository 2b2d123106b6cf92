namespace Hyprstream.Runtime.Store;

/// <summary>A consistent copy of the cache's counters (taken under its lock, so they add up).</summary>
public sealed record CacheStats(IReadOnlyList<TierStats> Tiers, long Lookups, long Misses, long ColdLoads,
    long WriteBacks, int Pinned, int Adapters)
{
    public TierStats this[CacheTier t] => Tiers[(int)t];
    public long Hits => Tiers.Sum(t => t.Hits);
    /// <summary>Snapshot files mapped for cold reads (each checked structurally; see <see cref="AdapterStore"/>).</summary>
    public long SnapshotMaps { get; init; }
    /// <summary>Reads served from a snapshot a tier already holds (L2 buffer or L3 mapped file), with no grid built.</summary>
    public long SnapshotHits { get; init; }
    /// <summary>Adapters whose snapshot file is mapped now (the adapters in L3).</summary>
    public int SnapshotsMapped { get; init; }
    /// <summary>Snapshots of changed adapters written to L3 spill files (cache/*.nvdb) instead of being checkpointed.</summary>
    public long Spills { get; init; }
}

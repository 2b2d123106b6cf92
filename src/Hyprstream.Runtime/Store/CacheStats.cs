namespace Hyprstream.Runtime.Store;

/// <summary>A consistent copy of the cache's counters (taken under its lock, so they add up).</summary>
public sealed record CacheStats(IReadOnlyList<TierStats> Tiers, long Lookups, long Misses, long BloomRejects, long ColdLoads,
    long WriteBacks, int Pinned, int Adapters)
{
    public TierStats this[CacheTier t] => Tiers[(int)t];
    public long Hits => Tiers.Sum(t => t.Hits);
    /// <summary>Snapshot files mapped for cold reads (each checked structurally; see <see cref="AdapterStore"/>).</summary>
    public long SnapshotMaps { get; init; }
    /// <summary>Cold reads served from an already mapped snapshot file.</summary>
    public long SnapshotHits { get; init; }
    /// <summary>Adapters whose snapshot file is mapped now.</summary>
    public int SnapshotsMapped { get; init; }
}

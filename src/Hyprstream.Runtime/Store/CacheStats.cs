namespace Hyprstream.Runtime.Store;

/// <summary>A consistent copy of the cache's counters (taken under its lock, so they add up).</summary>
public sealed record CacheStats(IReadOnlyList<TierStats> Tiers, long Lookups, long Misses, long BloomRejects, long ColdLoads,
    long WriteBacks, int Pinned, int Adapters)
{
    public TierStats this[CacheTier t] => Tiers[(int)t];
    public long Hits => Tiers.Sum(t => t.Hits);
}

namespace Hyprstream.Runtime.Store;

/// <summary>The cache's tiers: decoded adapters, compressed bytes in RAM, spilled compressed files on disk.</summary>
public enum CacheTier { L1 = 0, L2 = 1, L3 = 2 }

/// <summary>Byte budgets per tier. An object larger than a tier's budget skips that tier.</summary>
public sealed record CacheBudgets(long L1Bytes, long L2Bytes, long L3Bytes)
{
    public static readonly CacheBudgets Default = new(2L << 30, 1L << 30, 8L << 30);
}

/// <summary>One tier's numbers at one moment.</summary>
public sealed record TierStats(CacheTier Tier, long BudgetBytes, long ResidentBytes, int Entries, long Hits, long Promotions, long Evictions);

/// <summary>A consistent copy of the cache's counters (taken under its lock, so they add up).</summary>
public sealed record CacheStats(IReadOnlyList<TierStats> Tiers, long Lookups, long Misses, long BloomRejects, long ColdLoads,
    long WriteBacks, int Pinned, int Adapters)
{
    public TierStats this[CacheTier t] => Tiers[(int)t];
    public long Hits => Tiers.Sum(t => t.Hits);
}

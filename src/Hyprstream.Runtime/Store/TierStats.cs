namespace Hyprstream.Runtime.Store;

/// <summary>One tier's numbers at one moment.</summary>
public sealed record TierStats(CacheTier Tier, long BudgetBytes, long ResidentBytes, int Entries, long Hits, long Promotions, long Evictions);

namespace Hyprstream.Runtime.Store;

/// <summary>The cache's tiers: decoded adapters, compressed bytes in RAM, spilled compressed files on disk.</summary>
public enum CacheTier { L1 = 0, L2 = 1, L3 = 2 }

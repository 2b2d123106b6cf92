using Hyprstream.Runtime.Snapshots;
namespace Hyprstream.Runtime.Store;

/// <summary>The snapshot tier's numbers: budget and residency in bytes, hits, first builds, rebuilds after changes, evictions.</summary>
public sealed record SnapshotTierStats(string Device, SnapshotPrecision Precision, long BudgetBytes, long ResidentBytes, int Entries,
    long Hits, long Builds, long Rebuilds, long Evictions)
{
    /// <summary>Builds and rebuilds served from the store's mapped Fp16 checkpoint file (no conversion).</summary>
    public long FileLoads { get; init; }
}

namespace Hyprstream.Runtime.Index;

/// <summary>One search result: an adapter and its distance (squared L2, 1 − cos, or the Poincaré distance).</summary>
public readonly record struct IndexHit(string Adapter, double Distance);

/// <summary>
/// Which adapters a search may return, tested while the graph is walked (not afterwards), so a selective filter
/// still returns k results. Tags are free strings; a tenant is the tag "tenant=&lt;name&gt;".
/// </summary>
public sealed record IndexFilter
{
    /// <summary>Every one of these tags must be present.</summary>
    public IReadOnlyList<string> AllOf { get; init; } = [];
    /// <summary>When not empty, at least one of these tags must be present.</summary>
    public IReadOnlyList<string> AnyOf { get; init; } = [];
    public string? Tenant { get; init; }

    internal bool Matches(IReadOnlySet<string> tags) =>
        AllOf.All(tags.Contains) && (AnyOf.Count == 0 || AnyOf.Any(tags.Contains)) && (Tenant == null || tags.Contains("tenant=" + Tenant));
}

/// <summary>What an index holds and what it costs.</summary>
public sealed record IndexStats(
    DistanceMetric Metric, int Dimensions, int Count, int Deleted, int M, int EfConstruction, int EfSearch, bool QuantizedInt8,
    long VectorBytesHot, long VectorBytesExact, long LinkBytes, int MaxLevel, long WalRecords, string? Directory);

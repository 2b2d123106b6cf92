namespace Hyprstream.Runtime.Index;

/// <summary>What an index holds and what it costs.</summary>
public sealed record IndexStats(
    DistanceMetric Metric, int Dimensions, int Count, int Deleted, int M, int EfConstruction, int EfSearch, bool QuantizedInt8,
    long VectorBytesHot, long VectorBytesExact, long LinkBytes, int MaxLevel, long WalRecords, string? Directory)
{
    /// <summary>A background rebuild (compaction or a new M) is running; the old graph serves meanwhile.</summary>
    public bool Rebuilding { get; init; }
    /// <summary>Background rebuilds finished since the index was opened (compactions included).</summary>
    public long Rebuilds { get; init; }
    /// <summary>Rebuilds started because tombstones passed <see cref="HnswParameters.CompactWhenDeleted"/>.</summary>
    public long Compactions { get; init; }
    /// <summary>Where the embeddings are durable: "store" (the adapter store's log), "directory" (own log) or "memory".</summary>
    public string Home { get; init; } = "memory";
}

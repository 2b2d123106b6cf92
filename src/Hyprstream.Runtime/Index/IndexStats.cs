namespace Hyprstream.Runtime.Index;

/// <summary>What an index holds and what it costs.</summary>
public sealed record IndexStats(
    DistanceMetric Metric, int Dimensions, int Count, int Deleted, int M, int EfConstruction, int EfSearch, bool QuantizedInt8,
    long VectorBytesHot, long VectorBytesExact, long LinkBytes, int MaxLevel, long WalRecords, string? Directory);

namespace Hyprstream.Runtime.Index;

/// <summary>HNSW knobs. M and EfConstruction shape the graph as it is built; EfSearch can change at any time.</summary>
public sealed record HnswParameters
{
    /// <summary>Links per node on upper layers (2·M on layer 0).</summary>
    public int M { get; init; } = 16;
    public int EfConstruction { get; init; } = 200;
    /// <summary>Default candidate-list size of a search (at least k is used).</summary>
    public int EfSearch { get; init; } = 64;
    /// <summary>Store vectors as int8 codes with a per-vector scale (L2 and cosine only); the top candidates are
    /// re-ranked with the exact vectors.</summary>
    public bool QuantizeInt8 { get; init; }
    public int Seed { get; init; } = 42;
    /// <summary>A background compaction rebuilds the graph once this fraction of its nodes are tombstones (removed or
    /// replaced embeddings) and at least <see cref="AdapterIndex.CompactMinDeleted"/> are.</summary>
    public double CompactWhenDeleted { get; init; } = 0.25;

    internal void Validate(DistanceMetric metric)
    {
        if (M < 2 || M > 256) throw new ArgumentOutOfRangeException(nameof(M), M, "M must be in [2, 256]");
        if (EfConstruction < 1) throw new ArgumentOutOfRangeException(nameof(EfConstruction), EfConstruction, "efConstruction must be >= 1");
        if (EfSearch < 1) throw new ArgumentOutOfRangeException(nameof(EfSearch), EfSearch, "efSearch must be >= 1");
        if (!(CompactWhenDeleted > 0 && CompactWhenDeleted <= 1))
            throw new ArgumentOutOfRangeException(nameof(CompactWhenDeleted), CompactWhenDeleted, "compactWhenDeleted must be in (0, 1]");
        if (QuantizeInt8 && metric == DistanceMetric.Poincare)
            throw new ArgumentException("int8 quantization supports the L2 and cosine metrics, not Poincaré (ball coordinates need float64)");
    }
}

namespace Hyprstream.Runtime;

/// <summary>A module as described by a file's metadata (no weights loaded).</summary>
public sealed record ModuleInfo(string Name, int Layer, int Rows, int Cols, float Scale, long SlotBase, long ActiveCount)
{
    /// <summary>Stored 8×64 tiles, where known (-1 when read from a file's metadata alone).</summary>
    public long TileCount { get; init; } = -1;

    public long TotalWeights => (long)Rows * Cols;
    public double Density => TotalWeights == 0 ? 0 : (double)ActiveCount / TotalWeights;
}

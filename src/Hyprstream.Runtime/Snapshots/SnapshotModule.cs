namespace Hyprstream.Runtime.Snapshots;

/// <summary>
/// One module of an <see cref="AdapterSnapshot"/>: its place in the tile mapping and, once the snapshot is indexed,
/// the range of its leaves in the snapshot's slot-ordered leaf list.
/// </summary>
public sealed class SnapshotModule
{
    internal SnapshotModule(string name, int rows, int cols, float scale, long slotBase)
    {
        Name = name;
        Rows = rows;
        Cols = cols;
        Scale = scale;
        SlotBase = slotBase;
    }

    public string Name { get; }
    public int Rows { get; }
    public int Cols { get; }
    /// <summary>Multiplier of the stored weights (the effective delta is Scale × stored).</summary>
    public float Scale { get; }
    public long SlotBase { get; }
    public long TileCount => TileMapping.TileCount(Rows, Cols);
    public int TilesPerRow => (int)TileMapping.TilesPerRow(Cols);

    /// <summary>Index of this module's first leaf in the snapshot's slot-ordered leaf list.</summary>
    public int LeafStart { get; internal set; }
    /// <summary>Stored 8×64 tiles of this module.</summary>
    public int LeafCount { get; internal set; }
    // This module's runs of tiles sharing a tile row, in the snapshot's run table.
    internal int RunStart { get; set; }
    internal int RunCount { get; set; }
}

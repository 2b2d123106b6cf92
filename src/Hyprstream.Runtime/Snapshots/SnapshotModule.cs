namespace Hyprstream.Runtime.Snapshots;

/// <summary>
/// One module of an <see cref="AdapterSnapshot"/>: its place in the tile mapping and, once the snapshot is indexed,
/// the range of its leaves in the snapshot's slot-ordered leaf list.
/// </summary>
public sealed class SnapshotModule : IModuleSource
{
    internal SnapshotModule(string name, int rows, int cols, float scale, long slotBase, int? layer = null)
    {
        Name = name;
        Layer = layer ?? AdapterNames.LayerOf(name);
        Rows = rows;
        Cols = cols;
        Scale = scale;
        SlotBase = slotBase;
    }

    public string Name { get; }
    /// <summary>The model layer the module belongs to (as <see cref="AdapterModule.Layer"/>).</summary>
    public int Layer { get; }
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
    /// <summary>The snapshot this module belongs to (set when the snapshot is indexed).</summary>
    internal AdapterSnapshot Snapshot { get; set; } = null!;

    /// <summary>A cursor over the stored weights, read from the snapshot's leaves in place (the snapshot stays alive while it is open).</summary>
    public SnapshotWeightCursor OpenCursor() => new(Snapshot, this);

    /// <summary>A cursor over the stored 8×64 tiles, each copied whole from its leaf.</summary>
    public SnapshotTileCursor OpenTileCursor() => new(Snapshot, this);

    /// <summary>Stored weights (counted from the leaves' active masks).</summary>
    public long ActiveCount => Snapshot.ActiveCountOf(this);

    /// <summary>The stored weight at (row, col), 0 where nothing is stored (the scale is not applied).</summary>
    public float this[int row, int col] => Snapshot.Get(this, row, col);

    IWeightCursor IModuleSource.OpenWeights() => OpenCursor();
    ITileCursor IModuleSource.OpenTiles() => OpenTileCursor();

    // This module's runs of tiles sharing a tile row, in the snapshot's run table.
    internal int RunStart { get; set; }
    internal int RunCount { get; set; }
}

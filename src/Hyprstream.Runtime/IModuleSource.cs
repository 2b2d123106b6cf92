namespace Hyprstream.Runtime;

/// <summary>
/// A module that can be streamed out, whatever form holds it: a writable grid's <see cref="AdapterModule"/> or a
/// read-only snapshot's <see cref="Snapshots.SnapshotModule"/> (a mapped snapshot file needs no decoding).
/// </summary>
public interface IModuleSource
{
    string Name { get; }
    int Rows { get; }
    int Cols { get; }
    /// <summary>Multiplier of the stored weights (the effective delta is Scale × stored).</summary>
    float Scale { get; }
    /// <summary>Stored weights.</summary>
    long ActiveCount { get; }
    IWeightCursor OpenWeights();
    ITileCursor OpenTiles();
}

namespace Hyprstream.Runtime;

/// <summary>
/// A chunked reader of a module's stored 8×64 tiles (512 floats each, row-major, inactive weights and edge padding
/// as 0) in (tile row, tile col) order: the same from a writable grid (<see cref="TileCursor"/>) and from a read-only
/// NanoVDB snapshot (<see cref="Snapshots.SnapshotTileCursor"/>).
/// </summary>
public interface ITileCursor : IDisposable
{
    /// <summary>Fills up to min(tileRows.Length, tileCols.Length, values.Length / 512) tiles; returns how many (0 at the end).</summary>
    int Read(Span<int> tileRows, Span<int> tileCols, Span<float> values);
}

namespace Hyprstream.Runtime;

/// <summary>
/// A chunked reader of a module's stored weights into caller buffers, in (row, col) order within each 8×64 tile,
/// tiles in row-major order: the same from a writable grid (<see cref="ActiveWeightCursor"/>) and from a read-only
/// NanoVDB snapshot (<see cref="Snapshots.SnapshotWeightCursor"/>).
/// </summary>
public interface IWeightCursor : IDisposable
{
    /// <summary>Fills up to the shortest buffer's length; returns how many were written (0 at the end).</summary>
    int Read(Span<int> rows, Span<int> cols, Span<float> values);
}

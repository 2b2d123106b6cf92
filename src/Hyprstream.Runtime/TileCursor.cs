using Hyprstream.Interop;
using Hyprstream.Interop.Handles;
using Hyprstream.Interop.OpenVdb;

namespace Hyprstream.Runtime;

/// <summary>
/// Reads a module's stored 8×64 tiles straight into caller buffers, in (tile row, tile col) order: each tile is one
/// leaf buffer copied out, so a server fills transport buffers at memory speed. Only stored tiles are returned (as
/// many as <see cref="AdapterModule.StoredTileCount"/>); inactive weights and the padding of edge tiles read as 0.
/// Each <see cref="Read"/> is consistent on its own (it holds the adapter's read lock); between reads the cursor
/// resumes after the last tile it returned, so a change made meanwhile is seen from there on.
/// </summary>
public sealed unsafe class TileCursor : ITileCursor
{
    private readonly AdapterModule _module;
    private readonly TileCursorHandle _cursor;

    internal TileCursor(AdapterModule module, TileCursorHandle cursor)
    {
        _module = module;
        _cursor = cursor;
    }

    /// <summary>
    /// Fills up to min(tileRows.Length, tileCols.Length, values.Length / 512) tiles: tile t is (tileRows[t], tileCols[t])
    /// and values[t*512 + r*64 + c] = W[tileRow*8 + r, tileCol*64 + c]. Returns the number of tiles (0 at the end).
    /// </summary>
    public int Read(Span<int> tileRows, Span<int> tileCols, Span<float> values)
    {
        int max = Math.Min(tileRows.Length, Math.Min(tileCols.Length, values.Length / TileMapping.TileSize));
        if (max == 0) return 0;
        using var scope = _module.Adapter.ReadScope(_module);
        fixed (int* r = tileRows) fixed (int* c = tileCols) fixed (float* v = values)
        {
            Status.Check(Hs.hs_tile_cursor_next(_cursor, r, c, v, max, out var n));
            return (int)n;
        }
    }

    public void Dispose() => _cursor.Dispose();
}

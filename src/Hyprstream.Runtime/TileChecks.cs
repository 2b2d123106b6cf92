using System.Numerics;
using System.Runtime.InteropServices;

namespace Hyprstream.Runtime;

/// <summary>
/// The managed copy of the native tile rules (tiles.cpp), for checks that must run before anything reaches the grid
/// (the store validates a batch before logging it): tile coordinates in range, finite values, zero padding.
/// The messages name the tile the way the native ones do.
/// </summary>
internal static class TileChecks
{
    /// <summary>Index of the first NaN or ±Inf, or -1 (vectorised: an all-ones exponent).</summary>
    public static long FirstNonFinite(ReadOnlySpan<float> values)
    {
        var bits = MemoryMarshal.Cast<float, uint>(values);
        const uint Exponent = 0x7f800000u;
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var exp = new Vector<uint>(Exponent);
            var blocks = MemoryMarshal.Cast<uint, Vector<uint>>(bits);
            for (int b = 0; b < blocks.Length; b++, i += Vector<uint>.Count)
                if (Vector.EqualsAny(blocks[b] & exp, exp)) break;
        }
        for (; i < bits.Length; i++)
            if ((bits[i] & Exponent) == Exponent) return i;
        return -1;
    }

    /// <summary>Throws unless (tileRow, tileCol) is a tile of a rows × cols module.</summary>
    public static void CheckCoord(string module, int rows, int cols, int tileRow, int tileCol, long index)
    {
        long rowTiles = TileMapping.TileRowCount(rows), colTiles = TileMapping.TilesPerRow(cols);
        if ((uint)tileRow >= rowTiles || (uint)tileCol >= colTiles)
            throw new ArgumentOutOfRangeException(null,
                $"tile ({tileRow}, {tileCol}) at batch index {index} is outside module '{module}' [{rows}x{cols}], which has {rowTiles}x{colTiles} tiles of 8x64");
    }

    /// <summary>Throws when a value of an edge tile lies outside the module's shape and is not 0.</summary>
    public static void CheckPadding(string module, int rows, int cols, int tileRow, int tileCol, ReadOnlySpan<float> tile, long index)
    {
        int inRows = Math.Min(TileMapping.TileRows, rows - tileRow * TileMapping.TileRows);
        int inCols = Math.Min(TileMapping.TileCols, cols - tileCol * TileMapping.TileCols);
        if (inRows == TileMapping.TileRows && inCols == TileMapping.TileCols) return;
        for (int r = 0; r < TileMapping.TileRows; r++)
            for (int c = r < inRows ? inCols : 0; c < TileMapping.TileCols; c++)
                if (tile[r * TileMapping.TileCols + c] != 0f)
                    throw new ArgumentException(
                        $"tile ({tileRow}, {tileCol}) at batch index {index} of module '{module}' has {tile[r * TileMapping.TileCols + c]} at ({r}, {c}), in the padding outside the module's {rows}x{cols} shape: padding must be 0");
    }

    /// <summary>Every rule a tile write checks: coordinates, finite values, zero padding.</summary>
    public static void Check(string module, int rows, int cols, ReadOnlySpan<int> tileRows, ReadOnlySpan<int> tileCols, ReadOnlySpan<float> values)
    {
        CheckLengths(tileRows.Length, tileCols.Length, values.Length);
        for (int i = 0; i < tileRows.Length; i++) CheckCoord(module, rows, cols, tileRows[i], tileCols[i], i);
        long bad = FirstNonFinite(values);
        if (bad >= 0)
        {
            long t = bad / TileMapping.TileSize, j = bad % TileMapping.TileSize;
            throw new ArgumentException(
                $"{(float.IsNaN(values[(int)bad]) ? "NaN" : "infinite")} value at ({j / TileMapping.TileCols}, {j % TileMapping.TileCols}) of tile ({tileRows[(int)t]}, {tileCols[(int)t]}) at batch index {t} of module '{module}' refused: adapter weights must be finite");
        }
        for (int i = 0; i < tileRows.Length; i++)
            CheckPadding(module, rows, cols, tileRows[i], tileCols[i], values.Slice(i * TileMapping.TileSize, TileMapping.TileSize), i);
    }

    public static void CheckLengths(int tileRows, int tileCols, int values)
    {
        if (tileRows != tileCols || values != (long)tileRows * TileMapping.TileSize)
            throw new ArgumentException($"tile spans do not match: {tileRows} tile rows, {tileCols} tile cols and {values} values (512 per tile expected)");
    }
}

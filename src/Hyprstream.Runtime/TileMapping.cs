namespace Hyprstream.Runtime;

/// <summary>
/// The "hs.tile8x64" v1 mapping from a module's (row, col) to an OpenVDB voxel, for tools that read our files
/// directly. The native shim implements the same formula; this copy exists so C# readers (and tests) can name
/// the voxel of a weight without the native library.
/// </summary>
public static class TileMapping
{
    public const string Name = "hs.tile8x64";
    public const int Version = 1;
    public const int TileRows = 8;
    public const int TileCols = 64;
    public const int TileSize = TileRows * TileCols;

    public static long TilesPerRow(int cols) => (cols + TileCols - 1L) / TileCols;

    public static long TileRowCount(int rows) => (rows + TileRows - 1L) / TileRows;

    public static long TileCount(int rows, int cols) => TilesPerRow(cols) * TileRowCount(rows);

    /// <summary>Most elements a dense rows × cols buffer may have (the largest .NET array).</summary>
    public static long MaxDenseElements => Array.MaxLength;

    /// <summary>
    /// The element count of a dense rows × cols buffer of <paramref name="what"/>, or an <see cref="ArgumentException"/>
    /// naming the size when no .NET array can hold it (sparse modules may declare shapes far larger than any dense copy).
    /// </summary>
    public static int DenseLength(int rows, int cols, string what)
    {
        long n = (long)rows * cols;
        if (n > MaxDenseElements)
            throw new ArgumentException($"{what} is {rows}x{cols} = {n:N0} weights; a dense copy is limited to {MaxDenseElements:N0} elements (use the sparse operations instead)");
        return (int)n;
    }

    /// <summary>The origin (x, y, z) of the 8³ leaf that holds tile slot <paramref name="slot"/>.</summary>
    public static (int X, int Y, int Z) SlotOrigin(long slot)
    {
        long lower = slot >> 12, l = slot & 4095, upper = lower >> 15, u = lower & 32767;
        return ((int)(upper * 4096 + (u >> 10) * 128 + (l >> 8) * 8),
                (int)(((u >> 5) & 31) * 128 + ((l >> 4) & 15) * 8),
                (int)((u & 31) * 128 + (l & 15) * 8));
    }

    /// <summary>The tile slot whose leaf has origin (x, y, z): the inverse of <see cref="SlotOrigin"/>.</summary>
    public static long OriginSlot(int x, int y, int z)
    {
        long upper = x >> 12;
        long u = (((x >> 7) & 31L) << 10) | (((y >> 7) & 31L) << 5) | ((z >> 7) & 31L);
        long l = (((x >> 3) & 15L) << 8) | (((y >> 3) & 15L) << 4) | ((z >> 3) & 15L);
        return (((upper << 15) | u) << 12) | l;
    }

    /// <summary>The voxel of weight (row, col) of a module whose first tile slot is <paramref name="slotBase"/>.</summary>
    public static (int X, int Y, int Z) Voxel(long slotBase, int cols, int row, int col)
    {
        var (x, y, z) = SlotOrigin(slotBase + (row >> 3) * TilesPerRow(cols) + (col >> 6));
        return (x + (row & 7), y + ((col >> 3) & 7), z + (col & 7));
    }
}

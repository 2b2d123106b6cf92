namespace Hyprstream.Runtime;

/// <summary>
/// The documented limits on what an adapter may declare. They are checked before anything is logged or built, so a
/// request past them is refused whole, and a store never holds a record it could not replay.
/// </summary>
public static class AdapterLimits
{
    /// <summary>Largest module dimension (rows or cols): 2^25 = 33,554,432.</summary>
    public const int MaxModuleDimension = 1 << 25;

    /// <summary>
    /// Most 8×64 tiles the modules of one adapter may declare together (⌈rows/8⌉·⌈cols/64⌉ summed over its modules):
    /// 2^39, the tile slots the "hs.tile8x64" mapping addresses with int32 voxel coordinates. Declared tiles cost
    /// nothing until weights are stored in them; only stored tiles take memory and time.
    /// </summary>
    public const long MaxTilesPerAdapter = 1L << 39;

    /// <summary>Throws ArgumentException unless rows × cols is a shape a module may have.</summary>
    public static void CheckShape(string module, int rows, int cols)
    {
        if (rows <= 0 || cols <= 0)
            throw new ArgumentException($"module '{module}' has shape {rows}x{cols}; both must be > 0");
        if (rows > MaxModuleDimension || cols > MaxModuleDimension)
            throw new ArgumentException($"module '{module}' has shape {rows}x{cols}; rows and cols may be at most {MaxModuleDimension:N0}");
    }

    /// <summary>Throws ArgumentException when declaring <paramref name="tiles"/> more would pass <see cref="MaxTilesPerAdapter"/>.</summary>
    public static void CheckTiles(string adapter, string module, long declared, long tiles)
    {
        if (declared + tiles > MaxTilesPerAdapter)
            throw new ArgumentException(
                $"module '{module}' would bring adapter '{adapter}' to {declared + tiles:N0} declared 8x64 tiles; an adapter may declare at most {MaxTilesPerAdapter:N0}");
    }
}

namespace Hyprstream.Runtime;

/// <summary>How KeepTopFraction chooses what to keep.</summary>
public enum SparsityStructure
{
    /// <summary>Whole 8×64 tiles, highest energy first: ~6 B/weight in memory, GPU friendly. The default.</summary>
    Tile = 1,
    /// <summary>Individual weights by magnitude: best energy per weight, but each kept weight can cost a whole tile.</summary>
    Unstructured = 0,
}

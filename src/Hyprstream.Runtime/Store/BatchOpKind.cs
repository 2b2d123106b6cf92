namespace Hyprstream.Runtime.Store;

/// <summary>What one step of a batch does to an adapter.</summary>
public enum BatchOpKind : byte
{
    DefineModule = 1,
    Set = 2,
    Add = 3,
    Prune = 4,
    RemoveModule = 5,
    SetMetadata = 6,
    KeepTop = 7,
    /// <summary>Whole 8×64 tiles replaced (RowIndex/ColIndex: tile coordinates; Values: 512 per tile, row-major).</summary>
    SetTiles = 8,
    /// <summary>Whole 8×64 tiles added elementwise (layout as <see cref="SetTiles"/>).</summary>
    AddTiles = 9,
}

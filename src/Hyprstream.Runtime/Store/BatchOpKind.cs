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
}

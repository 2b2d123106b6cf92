namespace Hyprstream.Runtime;

/// <summary>A module as described by a file's metadata (no weights loaded).</summary>
public sealed record ModuleInfo(string Name, int Layer, int Rows, int Cols, float Scale, long SlotBase, long ActiveCount)
{
    public long TotalWeights => (long)Rows * Cols;
    public double Density => TotalWeights == 0 ? 0 : (double)ActiveCount / TotalWeights;
}

/// <summary>An adapter as described by a file's metadata (no weights loaded).</summary>
public sealed record AdapterInfo(
    string Name,
    string? BaseModel,
    IReadOnlyDictionary<string, string> Provenance,
    IReadOnlyDictionary<string, string> Metadata,
    IReadOnlyList<ModuleInfo> Modules,
    string Mapping,
    int MappingVersion,
    long ActiveCount,
    long MemoryBytes,
    bool SavedAsHalf)
{
    public long TotalWeights => Modules.Sum(m => m.TotalWeights);
    public double Density => TotalWeights == 0 ? 0 : (double)ActiveCount / TotalWeights;
}

/// <summary>What a .vdb file holds: its adapters, and the names of grids that are not adapters.</summary>
public sealed record AdapterFileInfo(string Path, long SizeBytes, IReadOnlyList<AdapterInfo> Adapters, IReadOnlyList<string> OtherGrids);

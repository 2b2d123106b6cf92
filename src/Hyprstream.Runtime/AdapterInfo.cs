namespace Hyprstream.Runtime;

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

namespace Hyprstream.Runtime;

/// <summary>What a .vdb file holds: its adapters, and the names of grids that are not adapters.</summary>
public sealed record AdapterFileInfo(string Path, long SizeBytes, IReadOnlyList<AdapterInfo> Adapters, IReadOnlyList<string> OtherGrids);

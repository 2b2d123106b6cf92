namespace Hyprstream.Runtime.Index;

/// <summary>What <see cref="AdapterIndex.Open(string)"/> found.</summary>
public sealed record IndexRecovery(string? Snapshot, bool GraphRebuilt, long RecordsReplayed, long DroppedLogBytes);

namespace Hyprstream.Runtime.Store;

/// <summary>
/// An adapter the store does not serve because one of its WAL records could not be replayed. Its last checkpoint
/// (<see cref="ManifestEntry.Checkpoint"/>) and every later record of it (in <see cref="RecordsFile"/>) are kept until
/// an operator repairs it (<see cref="AdapterStore.Repair"/>, `hyprstream store repair`).
/// </summary>
public sealed record QuarantinedAdapter(string Name, string Reason, ulong FailedSequence, string? RecordsFile);

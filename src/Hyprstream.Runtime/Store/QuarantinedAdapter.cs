namespace Hyprstream.Runtime.Store;

/// <summary>
/// An adapter the store does not serve because one of its WAL records could not be replayed. Its last checkpoint
/// (<see cref="ManifestEntry.Snapshot"/>) and every later record of it (in <see cref="RecordsFile"/>) are kept until
/// an operator repairs it (<see cref="AdapterStore.Repair"/>, `hyprstream store repair`).
/// </summary>
public sealed record QuarantinedAdapter(string Name, string Reason, ulong FailedSequence, string? RecordsFile);

/// <summary>What repairing a quarantined adapter did.</summary>
/// <param name="Restored">true when the adapter is served again; false when it was removed (dropped, or nothing was left).</param>
/// <param name="RecordsApplied">records replayed onto its last checkpoint before the first that failed.</param>
/// <param name="RecordsDropped">that record and every later one of the adapter (kept in <paramref name="KeptAt"/>).</param>
public sealed record RepairReport(string Name, bool Restored, int RecordsApplied, int RecordsDropped, string? FirstFailure, long ActiveWeights, string? KeptAt);

/// <summary>Thrown for an adapter that exists but is quarantined: the message says why and how to repair it.</summary>
public sealed class AdapterQuarantinedException(string name, string reason)
    : InvalidOperationException($"adapter '{name}' is quarantined ({reason}); stop the server and run `hyprstream store repair` on its data directory")
{
    public string Adapter { get; } = name;
}

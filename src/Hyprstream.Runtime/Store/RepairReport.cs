namespace Hyprstream.Runtime.Store;

/// <summary>What repairing a quarantined adapter did.</summary>
/// <param name="Restored">true when the adapter is served again; false when it was removed (dropped, or nothing was left).</param>
/// <param name="RecordsApplied">records replayed onto its last checkpoint before the first that failed.</param>
/// <param name="RecordsDropped">that record and every later one of the adapter (kept in <paramref name="KeptAt"/>).</param>
public sealed record RepairReport(string Name, bool Restored, int RecordsApplied, int RecordsDropped, string? FirstFailure, long ActiveWeights, string? KeptAt);

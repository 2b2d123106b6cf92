namespace Hyprstream.Runtime.Store;

/// <summary>How the store's checkpoints are going: failures in a row and in total, the last error, and whether writes are refused because of them.</summary>
public sealed record CheckpointHealth(long FailuresInARow, long FailuresTotal, string? LastError, DateTime? LastFailureUtc, string? WritesRefused);

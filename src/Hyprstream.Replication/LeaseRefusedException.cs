namespace Hyprstream.Replication;

/// <summary>This node may not lead the prefix: another leader holds a live lease, or the local data directory is not a continuation of the bucket. The message says which and what to do.</summary>
public sealed class LeaseRefusedException(string message) : InvalidOperationException(message);

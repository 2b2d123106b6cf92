namespace Hyprstream.Runtime.Store;

/// <summary>
/// One checkpoint as it ended, for whoever logs it (<see cref="StoreOptions.Checkpointed"/>): the count of checkpoints
/// completed so far, the adapters written, how long it took, the WAL sequence folded up to, and on failure the error
/// and the failures in a row so far. With a <see cref="StoreOptions.Checkpointed"/> callback set, the store does not
/// also write these to <see cref="StoreOptions.Log"/>: the report carries everything that line said.
/// </summary>
public sealed record CheckpointReport(long Checkpoints, int Adapters, TimeSpan Elapsed, ulong Sequence, Exception? Failure, int FailuresInARow)
{
    public bool Ok => Failure == null;
    /// <summary>On a failure: creating and changing adapters is now refused until a checkpoint succeeds.</summary>
    public bool WritesRefused { get; init; }
    /// <summary>On a failure: this is the one that made the store refuse writes.</summary>
    public bool StartsRefusing { get; init; }
    /// <summary>On a success: the failures in a row it ended (0 when the previous checkpoint succeeded).</summary>
    public int FailuresBefore { get; init; }
    /// <summary>On a success after failures that refused writes: writes are accepted again.</summary>
    public bool WritesAcceptedAgain { get; init; }
}

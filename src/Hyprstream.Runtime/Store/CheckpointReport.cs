namespace Hyprstream.Runtime.Store;

/// <summary>
/// One checkpoint as it ended, for whoever logs it (<see cref="StoreOptions.Checkpointed"/>): the count of checkpoints
/// completed so far, the adapters written, how long it took, the WAL sequence folded up to, and on failure the error
/// and the failures in a row so far.
/// </summary>
public sealed record CheckpointReport(long Checkpoints, int Adapters, TimeSpan Elapsed, ulong Sequence, Exception? Failure, int FailuresInARow)
{
    public bool Ok => Failure == null;
}

using Hyprstream.Runtime.Store;
using Microsoft.Extensions.Logging;

namespace Hyprstream.Service;

/// <summary>
/// The store's checkpoints in the log (the store, given this callback, writes no line of its own): each one at
/// information; a failure at error — the 1st, 2nd, 4th, 8th … in a row only, since the background checkpointer
/// retries — and always the one that makes the store refuse writes; the success that ends a run of failures at warning.
/// </summary>
internal static partial class CheckpointLog
{
    public static Action<CheckpointReport> To(ILogger log) => r =>
    {
        if (r.Ok)
        {
            if (r.FailuresBefore > 0) Recovered(log, r.FailuresBefore, r.WritesAcceptedAgain ? "writes are accepted again" : "writes were never refused");
            Done(log, r.Checkpoints, r.Adapters, r.Elapsed.TotalMilliseconds, r.Sequence);
        }
        else if (int.IsPow2(r.FailuresInARow) || r.StartsRefusing)
            Failed(log, r.Failure, r.FailuresInARow, r.Failure!.Message, r.WritesRefused ? "; writes are refused until one succeeds" : "");
    };

    [LoggerMessage(EventId = 20, Level = LogLevel.Information, Message = "checkpoint {Checkpoint}: {Adapters} adapters written in {Milliseconds:F1} ms, WAL folded up to sequence {Sequence}")]
    private static partial void Done(ILogger log, long checkpoint, int adapters, double milliseconds, ulong sequence);

    [LoggerMessage(EventId = 21, Level = LogLevel.Error, Message = "checkpoint failed ({Failures} in a row): {Reason}{Refusing}; nothing is lost, the WAL still holds every change")]
    private static partial void Failed(ILogger log, Exception? error, int failures, string reason, string refusing);

    [LoggerMessage(EventId = 22, Level = LogLevel.Warning, Message = "checkpoint succeeded after {Failures} failures; {State}")]
    private static partial void Recovered(ILogger log, int failures, string state);
}

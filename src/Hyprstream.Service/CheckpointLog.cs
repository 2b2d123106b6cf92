using Hyprstream.Runtime.Store;
using Microsoft.Extensions.Logging;

namespace Hyprstream.Service;

/// <summary>
/// The store's checkpoints in the log: each one at information; a failure at error — the 1st, 2nd, 4th, 8th … in a
/// row only, since the background checkpointer retries every 50 ms.
/// </summary>
internal static partial class CheckpointLog
{
    public static Action<CheckpointReport> To(ILogger log) => r =>
    {
        if (r.Ok) Done(log, r.Checkpoints, r.Adapters, r.Elapsed.TotalMilliseconds, r.Sequence);
        else if (int.IsPow2(r.FailuresInARow)) Failed(log, r.Failure, r.FailuresInARow, r.Failure!.Message);
    };

    [LoggerMessage(EventId = 20, Level = LogLevel.Information, Message = "checkpoint {Checkpoint}: {Adapters} adapters written in {Milliseconds:F1} ms, WAL folded up to sequence {Sequence}")]
    private static partial void Done(ILogger log, long checkpoint, int adapters, double milliseconds, ulong sequence);

    [LoggerMessage(EventId = 21, Level = LogLevel.Error, Message = "checkpoint failed ({Failures} in a row): {Reason}; nothing is lost, the WAL still holds every change")]
    private static partial void Failed(ILogger log, Exception? error, int failures, string reason);
}

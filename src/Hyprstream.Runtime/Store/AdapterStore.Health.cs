namespace Hyprstream.Runtime.Store;

/// <summary>
/// Checkpoint failures are visible: each is logged (<see cref="StoreOptions.Log"/>) and counted in
/// <see cref="Stats"/>; the background checkpointer retries with a growing pause (up to 10 s); after
/// <see cref="StoreOptions.CheckpointFailuresBeforeRefusing"/> failures in a row, creating and changing adapters is
/// refused with <see cref="StoreUnavailableException"/> and the reason, instead of the WAL growing without bound,
/// until a checkpoint succeeds again. Deletes stay allowed (they free space at the next checkpoint). Nothing is lost
/// meanwhile: the WAL holds every acknowledged change.
/// </summary>
public sealed partial class AdapterStore
{
    private readonly object _healthLock = new();
    private long _failuresTotal;  // in a row: _checkpointFailuresInARow (AdapterStore.Metrics.cs)
    private string? _lastCheckpointError;
    private DateTime? _lastFailureUtc;
    private DateTime _nextCheckpointTry = DateTime.MinValue;

    /// <summary>The checkpoints' state: failures, last error, and whether writes are refused because of them.</summary>
    public CheckpointHealth CheckpointHealth
    {
        get { lock (_healthLock) return new CheckpointHealth(CheckpointFailuresInARow, _failuresTotal, _lastCheckpointError, _lastFailureUtc, RefusalLocked()); }
    }

    private string? RefusalLocked() =>
        _options.CheckpointFailuresBeforeRefusing > 0 && CheckpointFailuresInARow >= _options.CheckpointFailuresBeforeRefusing
            ? $"writes are refused: the last {CheckpointFailuresInARow} checkpoints of the store in {_dir} failed (latest: {_lastCheckpointError}); " +
              $"the WAL holds every acknowledged change ({Wal.DiskBytes} bytes); fix the cause (e.g. free disk space), writes resume once a checkpoint succeeds"
            : null;

    /// <summary>Throws <see cref="StoreUnavailableException"/> while writes are refused (before anything is logged).</summary>
    private void ThrowIfWritesRefused()
    {
        ThrowIfReplicaRefuses();
        string? why;
        lock (_healthLock) why = CheckpointFailuresInARow == 0 ? null : RefusalLocked();
        if (why != null) throw new StoreUnavailableException(why);
    }

    /// <summary>Whether <paramref name="failures"/> in a row refuse writes.</summary>
    private bool Refuses(long failures) => _options.CheckpointFailuresBeforeRefusing > 0 && failures >= _options.CheckpointFailuresBeforeRefusing;

    /// <summary>
    /// Called by <see cref="Checkpoint"/> with the failures in a row so far (this one included). Logged here only when
    /// no <see cref="StoreOptions.Checkpointed"/> callback reports it (the service logs the report: once, not twice).
    /// </summary>
    private void RecordCheckpointFailure(Exception ex, long n)
    {
        lock (_healthLock)
        {
            _failuresTotal++;
            _lastCheckpointError = $"{ex.GetType().Name}: {ex.Message}";
            _lastFailureUtc = DateTime.UtcNow;
            _nextCheckpointTry = DateTime.UtcNow + TimeSpan.FromMilliseconds(Math.Min(10_000, 250 * Math.Pow(2, Math.Min(n - 1, 10))));
        }
        bool refusing = Refuses(n);
        if (_options.Checkpointed != null) return;
        _options.Log?.Invoke($"CHECKPOINT FAILED ({n} in a row{(refusing ? "; writes are refused until one succeeds" : "")}): {ex.GetType().Name}: {ex.Message}; " +
                             "nothing is lost: the WAL holds every acknowledged change");
    }

    /// <summary>Called by <see cref="Checkpoint"/> after a success, with the failures in a row before it.</summary>
    private void RecordCheckpointSuccess(long was)
    {
        lock (_healthLock) _nextCheckpointTry = DateTime.MinValue;
        if (was > 0 && _options.Checkpointed == null)
            _options.Log?.Invoke($"checkpoint succeeded after {was} failures; {(Refuses(was) ? "writes are accepted again" : "writes were never refused")}");
    }

    /// <summary>Whether the background checkpointer may try now (it pauses after a failure).</summary>
    private bool CheckpointDue()
    {
        lock (_healthLock) return DateTime.UtcNow >= _nextCheckpointTry;
    }
}

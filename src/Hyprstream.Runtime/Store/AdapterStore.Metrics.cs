using System.Diagnostics;

namespace Hyprstream.Runtime.Store;

// The store's hooks for metrics and logs, apart from its storage logic: the instruments are in StoreMetrics, a
// checkpoint's report goes to StoreOptions.Checkpointed (the service logs it), and what the rest of the store calls is
// one line each (StartMetrics after recovery, the timed checkpoint wrapper).
public sealed partial class AdapterStore
{
    private StoreMetrics? _metrics;
    private int _checkpointFailuresInARow;

    /// <summary>Checkpoints that failed since the last one that succeeded (background or asked for).</summary>
    public int CheckpointFailuresInARow => Volatile.Read(ref _checkpointFailuresInARow);

    /// <summary>Publishes the store's instruments when the options ask for them (after recovery, so they read a whole store).</summary>
    private void StartMetrics()
    {
        if (!_options.Metrics || _readOnly) return;
        _metrics = new StoreMetrics(this);
        if (_wal != null) _wal.Metrics = _metrics;
    }

    /// <summary>Folds the WAL into checkpoints: rotate, write the changed adapters from private copies, swap the manifest,
    /// delete folded segments. Readers and writers keep going meanwhile. Timed, counted and reported.</summary>
    public void Checkpoint()
    {
        long started = Stopwatch.GetTimestamp();
        int written;
        try { written = CheckpointCore(); }
        catch (Exception e) when (e is not ObjectDisposedException)
        {
            int n = Interlocked.Increment(ref _checkpointFailuresInARow);
            RecordCheckpointFailure(e, n);
            _metrics?.Checkpointed(started, ok: false);
            _options.Checkpointed?.Invoke(new CheckpointReport(Interlocked.Read(ref _checkpoints), 0, Stopwatch.GetElapsedTime(started), Wal.LastSequence, e, n)
                { WritesRefused = Refuses(n), StartsRefusing = Refuses(n) && !Refuses(n - 1) });
            throw;
        }
        int was = Interlocked.Exchange(ref _checkpointFailuresInARow, 0);
        RecordCheckpointSuccess(was);
        _metrics?.Checkpointed(started, ok: true);
        _options.Checkpointed?.Invoke(new CheckpointReport(Interlocked.Read(ref _checkpoints), written, Stopwatch.GetElapsedTime(started), Wal.LastSequence, null, 0)
            { FailuresBefore = was, WritesAcceptedAgain = Refuses(was) });
    }

    /// <summary>
    /// Totals over the adapters whose description is at hand (described since start; a later change leaves the last
    /// one): active weights and sparsity, without decoding any adapter (a gauge must not load cold adapters).
    /// </summary>
    internal (long Active, double Sparsity) Described()
    {
        long active = 0, total = 0;
        foreach (var e in _adapters.Values)
        {
            if (Volatile.Read(ref e.Info) is not { } info || e.Deleted) continue;
            active += info.ActiveCount;
            total += info.TotalWeights;
        }
        return (active, total == 0 ? 0 : 1 - (double)active / total);
    }
}

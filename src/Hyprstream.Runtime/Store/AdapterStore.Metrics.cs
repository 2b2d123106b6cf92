using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Hyprstream.Runtime.Store;

// The store's hooks for metrics and logs, apart from its storage logic: the instruments are in StoreMetrics, and
// what the rest of the store calls is one line each (StartMetrics after recovery, the timed checkpoint wrapper).
public sealed partial class AdapterStore
{
    private StoreMetrics? _metrics;
    private int _checkpointFailuresInARow;

    /// <summary>Checkpoints that failed since the last one that succeeded (background or asked for).</summary>
    public int CheckpointFailuresInARow => Volatile.Read(ref _checkpointFailuresInARow);

    private ILogger? Logger => _options.Logger;

    /// <summary>Publishes the store's instruments when the options ask for them (after recovery, so they read a whole store).</summary>
    private void StartMetrics()
    {
        if (!_options.Metrics || _readOnly) return;
        _metrics = new StoreMetrics(this);
        if (_wal != null) _wal.Metrics = _metrics;
    }

    /// <summary>Folds the WAL into checkpoints: rotate, write the changed adapters from private copies, swap the manifest,
    /// delete folded segments. Readers and writers keep going meanwhile. Timed, counted and logged.</summary>
    public void Checkpoint()
    {
        long started = Stopwatch.GetTimestamp();
        int written;
        try { written = CheckpointCore(); }
        catch (Exception e) when (e is not ObjectDisposedException)
        {
            int n = Interlocked.Increment(ref _checkpointFailuresInARow);
            _metrics?.Checkpointed(started, ok: false);
            // The background checkpointer retries every 50 ms: the 1st, 2nd, 4th, 8th … failure in a row is logged.
            if (int.IsPow2(n)) Logger?.LogError(e, "checkpoint failed ({Failures} in a row): {Reason}; nothing is lost, the WAL still holds every change", n, e.Message);
            throw;
        }
        Volatile.Write(ref _checkpointFailuresInARow, 0);
        _metrics?.Checkpointed(started, ok: true);
        Logger?.LogInformation("checkpoint {Checkpoint}: {Adapters} adapters written in {Milliseconds:F1} ms, WAL folded up to sequence {Sequence}",
            Interlocked.Read(ref _checkpoints), written, Stopwatch.GetElapsedTime(started).TotalMilliseconds, Wal.LastSequence);
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

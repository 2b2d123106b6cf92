using Hyprstream.Runtime.Store;

namespace Hyprstream.Service;

/// <summary>
/// Whether the service should get traffic: ready once the store is open (recovered) and serving, not ready while the
/// store is being opened (WAL replay), once <see cref="FailingCheckpoints"/> checkpoints in a row have failed (the WAL
/// only grows), or when stopping. `/readyz` and the grpc.health.v1 status follow it; `/healthz` only says the process
/// answers.
/// </summary>
public sealed class Readiness
{
    /// <summary>Checkpoint failures in a row after which the service reports not ready.</summary>
    public const int FailingCheckpoints = 3;

    private volatile AdapterStore? _store;
    private volatile bool _stopping;
    private volatile Func<string?>? _replication;

    /// <summary>What the object-store tier says: null while this node may serve, else why not (a leader that lost its lease).</summary>
    public void Replicating(Func<string?> notReady) => _replication = notReady;

    /// <summary>The store is open and the Flight endpoint listens.</summary>
    public void Serving(AdapterStore store) => _store = store;

    public void Stopping() => _stopping = true;

    public (bool Ready, string Reason) Check()
    {
        if (_stopping) return (false, "stopping");
        if (_store is not { } store) return (false, "recovering: the store is being opened and its write-ahead log replayed");
        if (_replication?.Invoke() is { } why) return (false, why);
        int failures = store.CheckpointFailuresInARow;
        if (failures >= FailingCheckpoints)
            return (false, $"checkpoints keep failing ({failures} in a row: {store.LastCheckpointFailure?.Message}); the write-ahead log keeps every change but only grows");
        return (true, $"serving {store.Names.Count} adapters");
    }
}

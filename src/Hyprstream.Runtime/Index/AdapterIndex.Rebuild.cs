namespace Hyprstream.Runtime.Index;

/// <summary>
/// Background rebuilds: a compaction when tombstones pass <see cref="HnswParameters.CompactWhenDeleted"/>, and a
/// new graph when M (or int8) changes. The live entries are copied under the write lock, a new generation is built
/// on a worker thread while the old one keeps serving searches and taking writes (each write is also journalled),
/// then the journal is replayed onto the new generation and the two are swapped under the write lock.
/// </summary>
public sealed partial class AdapterIndex
{
    /// <summary>A write made while a rebuild runs: an upsert (vector as given) or a removal (null vector).</summary>
    private readonly record struct Change(string Name, double[]? Vector, string[] Tags);

    /// <summary>Tombstones below this count never start a compaction (a small index rebuilds on its own pace).</summary>
    public const int CompactMinDeleted = 32;

    /// <summary>
    /// Threads for the index's own bulk builds (rebuilds, reconcile on open): one. Parallel insertion
    /// (<see cref="BuildInMemory"/>) matches the sequential build's recall but left 0.1–0.2% of nodes unreachable in
    /// the tests (none sequentially), and a routing index must reach every adapter; until that is explained the
    /// service builds sequentially.
    /// </summary>
    private const int BuildThreads = 1;

    private List<Change>? _journal;           // non-null while a rebuild runs (guarded by the write lock)
    private Task? _rebuildTask;
    private bool _rebuildAgain;
    private long _rebuilds, _compactions, _changes;
    private string? _rebuildError;

    /// <summary>Why the last background rebuild failed (the old graph kept serving), or null.</summary>
    public string? RebuildError { get { using var s = Read(); return _rebuildError; } }

    /// <summary>Under the write lock: starts a compaction when enough of the graph is tombstones.</summary>
    private void MaybeCompact()
    {
        if (_journal != null || _disposed) return;
        var st = _state;
        int deleted = st.Deleted;
        if (deleted < CompactMinDeleted || deleted < _parameters.CompactWhenDeleted * st.Graph.Count) return;
        _compactions++;
        StartRebuild();
    }

    /// <summary>Under the write lock: starts a rebuild with the current parameters (or marks one to follow the running one).</summary>
    private void StartRebuild()
    {
        if (_journal != null) { _rebuildAgain = true; return; }
        var live = _state.Live();
        var p = _parameters;
        _journal = [];
        _rebuildTask = Task.Run(() => Rebuild(live, p));
    }

    private void Rebuild(List<(string Name, string[] Tags, double[] Vector)> live, HnswParameters p)
    {
        try
        {
            var next = new IndexState(Dimensions, Metric, p);
            next.AddMany(live, BuildThreads);
            _lock.EnterWriteLock();
            try
            {
                if (_disposed) return;
                foreach (var c in _journal!)
                    if (c.Vector == null) next.Remove(c.Name);
                    else next.Upsert(c.Name, next.Store.Prepare(c.Vector), c.Tags);
                _state = next;
                _journal = null;
                _rebuilds++;
                _rebuildError = null;
                bool again = _rebuildAgain || p.M != _parameters.M || p.QuantizeInt8 != _parameters.QuantizeInt8;
                _rebuildAgain = false;
                if (again) StartRebuild();
                else MaybeCompact(); // removals journalled during the rebuild are tombstones in the new graph
                if (_journal == null && _backing != null) ScheduleCache(force: true);
            }
            finally { _lock.ExitWriteLock(); }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _lock.EnterWriteLock();
            try { _journal = null; _rebuildError = e.Message; }
            finally { _lock.ExitWriteLock(); }
        }
    }

    /// <summary>Waits until no background rebuild runs (one may start the next); false on timeout.</summary>
    public bool WaitForRebuild(TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (true)
        {
            Task? t;
            _lock.EnterReadLock();
            try { t = _journal == null ? null : _rebuildTask; }
            finally { _lock.ExitReadLock(); }
            if (t == null) return true;
            var left = until - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) return false;
            try { t.Wait(left); } catch (AggregateException) { }
            if (!t.IsCompleted) return false;
            Thread.Sleep(1); // the swap (or the next rebuild's start) happens under the lock just after
        }
    }
}

using Hyprstream.Runtime.Store;

namespace Hyprstream.Replication;

/// <summary>
/// The leader of one bucket prefix: ships its store's durable WAL records as chunks and its checkpoints, committing
/// each with a conditional replace of the manifest (which is also the lease, renewed every third of its length).
/// One loop does every bucket write, in order: a chunk or checkpoint files are uploaded first, then the manifest that
/// names them is committed with If-Match on the ETag this leader wrote last. A refused commit means another node took
/// the lease: from then on writes are refused (<see cref="IReplicationGate.WriteRefusal"/>) and the node reports not
/// ready. With <see cref="LeaderOptions.AckRemote"/> a write is acknowledged once its chunk is committed; otherwise
/// once locally durable, and the bucket lags by up to the ship interval (more while the object store is unreachable:
/// writes go on locally, the lag shows in <see cref="Stats"/>, and shipping catches up when it is back).
/// Objects the manifest stops naming are deleted after <see cref="LeaderOptions.Retention"/>.
/// </summary>
public sealed partial class ReplicationLeader : IReplicationGate, IAsyncDisposable
{
    private readonly ObjectStore _bucket;
    private readonly LeaderOptions _o;
    private readonly string _storeDir;
    private readonly object _lock = new();
    private readonly List<(ulong Seq, TaskCompletionSource Done)> _waiters = [];
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<(string Key, DateTime Due)> _retired = [];
    private readonly HashSet<string> _inBucket = new(StringComparer.Ordinal);
    // Owned by the loop (and by StartAsync before it runs): the committed manifest and its ETag.
    private BucketManifest _m;
    private string _etag;
    private DateTime _lastCommit;
    private AdapterStore? _store;
    private WalShipper? _wal;
    private DateTime _localManifestTime;
    private Task? _loop, _checkpoint;
    private DateTime _checkpointAsked;
    // Read by other threads.
    private volatile string? _lost;
    private string? _lastError;
    private ulong _shipped;
    private long _keepFrom = -1;
    private DateTime? _behindSince;
    private int _wakeAsked;
    private bool _disposed;

    private ReplicationLeader(ObjectStore bucket, LeaderOptions options, string storeDir, BucketManifest manifest, string etag)
    {
        _bucket = bucket;
        _o = options;
        _storeDir = storeDir;
        _m = manifest;
        _etag = etag;
        _lastCommit = DateTime.UtcNow;
        _shipped = manifest.ShippedSeq;
        foreach (var key in NamedCheckpointKeys(manifest.Store)) _inBucket.Add(key);
    }

    public S3Uri Root => _o.Root;
    public string Id => _o.Id;
    public long Epoch => _m.Leader?.Epoch ?? 0;

    /// <summary>Every record up to this sequence is committed in the bucket.</summary>
    public ulong ShippedSequence { get { lock (_lock) return _shipped; } }

    /// <summary>Why this node no longer leads; null while it does.</summary>
    public string? Lost => _lost;

    // ---- IReplicationGate ----

    public string? WriteRefusal => _lost;
    public bool AcknowledgeRemotely => _o.AckRemote;
    public long KeepWalFrom => Interlocked.Read(ref _keepFrom);

    public Task WhenReplicatedAsync(ulong seq)
    {
        TaskCompletionSource tcs;
        lock (_lock)
        {
            if (_shipped >= seq) return Task.CompletedTask;
            if (_lost != null) return Task.FromException(new StoreUnavailableException(_lost));
            if (_disposed) return Task.FromException(new StoreUnavailableException($"the leader of {_o.Root} stopped before record {seq} was shipped"));
            tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((seq, tcs));
        }
        Wake();
        return tcs.Task;
    }

    /// <summary>The opened store: shipping starts from its WAL (after what the bucket already holds).</summary>
    public void Attach(AdapterStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (Path.GetFullPath(store.Directory) != _storeDir)
            throw new ArgumentException($"the leader ships {_storeDir}, not {store.Directory}");
        if (store.LastSequence < _m.ShippedSeq)
            throw new LeaseRefusedException(
                $"the store in {_storeDir} ends at record {store.LastSequence}, but {_o.Root} holds records up to {_m.ShippedSeq}: the local store lost acknowledged writes " +
                "(fsync never and a crash?); move it away and start on an empty data directory to recover the store from the bucket");
        var local = StoreManifest.Read(store.Directory);
        var wal = new WalShipper(store.WalDirectory);
        wal.StartAt(local.WalSegment);
        Interlocked.Exchange(ref _keepFrom, local.WalSegment);
        _wal = wal;
        store.AttachReplication(this);
        Volatile.Write(ref _store, store);
        Wake();
    }

    /// <summary>The replication section of `stats`.</summary>
    public ReplicationStats Stats()
    {
        var local = _store is { } s && !_disposed ? SafeDurable(s) : 0;
        lock (_lock)
        {
            var now = DateTime.UtcNow;
            TrackLagLocked(local, now);
            return new ReplicationStats
            {
                Bucket = _o.Root.ToString(), LeaderId = _o.Id, Epoch = Epoch, Ack = _o.AckRemote ? "remote" : "local",
                ShippedSeq = _shipped, LocalSeq = local, LagRecords = local > _shipped ? local - _shipped : 0,
                LagSeconds = _behindSince is { } since ? Math.Round((now - since).TotalSeconds, 3) : 0,
                Chunks = _m.Chunks.Count, CheckpointSegment = _m.Store.WalSegment, LeaseUntil = _m.Leader?.Until ?? default,
                LastCommit = _lastCommit, LastError = _lastError, Lost = _lost,
            };
        }
    }

    private static ulong SafeDurable(AdapterStore s)
    {
        try { return s.DurableSequence; }
        catch (ObjectDisposedException) { return 0; }
    }

    private void TrackLagLocked(ulong local, DateTime now)
    {
        if (local > _shipped) _behindSince ??= now;
        else _behindSince = null;
    }

    private void Wake()
    {
        if (Interlocked.Exchange(ref _wakeAsked, 1) == 0) _wake.Release();
    }

    private void StartLoop() => _loop = Task.Run(LoopAsync);

    /// <summary>After the lease is taken: objects under the prefix the manifest does not name (a crashed leader's uploads) go after the retention period.</summary>
    private async Task AfterStartAsync(CancellationToken ct)
    {
        try
        {
            var named = Named(_m);
            var due = DateTime.UtcNow + _o.Retention;
            foreach (var folder in new[] { BucketLayout.CheckpointsFolder, BucketLayout.WalFolder })
                foreach (var o in await _bucket.ListAsync(folder, ct: ct).ConfigureAwait(false))
                    if (!named.Contains(o.Key))
                        lock (_retired) _retired.Add((o.Key, due));
        }
        catch (IOException e) { _o.Log?.Invoke($"could not list {_o.Root} for leftovers (they stay): {e.Message}"); }
    }

    private async Task LoopAsync()
    {
        var ct = _stop.Token;
        var backoff = TimeSpan.Zero;
        while (!ct.IsCancellationRequested && _lost == null)
        {
            Interlocked.Exchange(ref _wakeAsked, 0);
            try
            {
                await StepAsync(ct).ConfigureAwait(false);
                if (_lastError != null) _o.Log?.Invoke($"shipping to {_o.Root} works again (records up to {_m.ShippedSeq} are in the bucket)");
                lock (_lock) _lastError = null;
                backoff = TimeSpan.Zero;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { break; }
            catch (Exception e)
            {
                var why = $"{e.GetType().Name}: {e.Message}";
                if (why != _lastError)
                    _o.Log?.Invoke($"SHIPPING TO {_o.Root} FAILED (retrying; writes go on locally{(_o.AckRemote ? ", but with --ack remote they wait" : "")}): {why}");
                lock (_lock) _lastError = why;
                backoff = TimeSpan.FromMilliseconds(Math.Min(5000, Math.Max(250, backoff.TotalMilliseconds * 2)));
            }
            var wait = backoff > TimeSpan.Zero ? backoff : NextWait();
            try { await _wake.WaitAsync(wait, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { break; }
        }
    }

    private TimeSpan NextWait()
    {
        var renew = _lastCommit + _o.Lease / 3 - DateTime.UtcNow;
        var wait = renew < _o.ShipInterval ? renew : _o.ShipInterval;
        return wait < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : wait;
    }

    /// <summary>One round: a new local checkpoint, then every durable record not shipped yet, then the lease, then old objects.</summary>
    private async Task StepAsync(CancellationToken ct)
    {
        if (Volatile.Read(ref _store) is { } store && _wal != null)
        {
            await ShipCheckpointAsync(store, ct).ConfigureAwait(false);
            while (_lost == null && await ShipChunkAsync(store, _wal, ct).ConfigureAwait(false)) { }
            AskForCheckpoint(store);
        }
        if (_lost == null && DateTime.UtcNow - _lastCommit >= _o.Lease / 3)
            await CommitAsync(Copy(_m), ct).ConfigureAwait(false);
        if (_lost == null) await DeleteRetiredAsync(ct).ConfigureAwait(false);
        var local = LocalDurable();
        lock (_lock) TrackLagLocked(local, DateTime.UtcNow);
    }

    private ulong LocalDurable() => Volatile.Read(ref _store) is { } s ? SafeDurable(s) : 0;

    /// <summary>Ships the next chunk of durable records, if any; false when there is none (or it must wait for a checkpoint).</summary>
    private async Task<bool> ShipChunkAsync(AdapterStore store, WalShipper wal, CancellationToken ct)
    {
        var chunk = wal.Next(_m.ShippedSeq, store.DurableSequence, _o.MaxChunkBytes);
        KeepFrom(store, wal.Segment);
        if (chunk == null) return false;
        if (chunk.FirstSeq != _m.ShippedSeq + 1)
        {
            // Records between are in no local segment: a local checkpoint folded them; it ships first.
            _localManifestTime = default;
            if (StoreManifest.Read(store.Directory).WalSegment > _m.Store.WalSegment) return false;
            throw new InvalidDataException(
                $"the local WAL continues at record {chunk.FirstSeq} (segment {chunk.Segment}), but {_o.Root} holds records up to {_m.ShippedSeq}: " +
                $"records {_m.ShippedSeq + 1}..{chunk.FirstSeq - 1} are in no local WAL segment and no checkpoint to ship");
        }
        await _bucket.PutAsync(chunk.Key, chunk.Data, ct: ct).ConfigureAwait(false);
        var next = Copy(_m);
        next.Chunks.Add(new WalChunk(chunk.Key, chunk.Segment, chunk.FirstSeq, chunk.LastSeq, chunk.Data.Length));
        next.ShippedSeq = chunk.LastSeq;
        next.ShippedAt = DateTime.UtcNow;
        if (!await CommitAsync(next, ct).ConfigureAwait(false)) return false;
        wal.Shipped(chunk);
        return true;
    }

    /// <summary>Segments before the cursor are shipped: the store may delete them once checkpoints hold them.</summary>
    private void KeepFrom(AdapterStore store, long segment)
    {
        if (segment <= Interlocked.Read(ref _keepFrom)) return;
        Interlocked.Exchange(ref _keepFrom, segment);
        try { store.ReleaseShippedWal(); }
        catch (ObjectDisposedException) { }
    }

    /// <summary>The manifest has grown long: a local checkpoint (shipped next) lets it drop the chunks.</summary>
    private void AskForCheckpoint(AdapterStore store)
    {
        if (_m.Chunks.Count <= _o.CheckpointAfterChunks || _checkpoint is { IsCompleted: false }) return;
        if (DateTime.UtcNow - _checkpointAsked < TimeSpan.FromSeconds(10)) return;
        _checkpointAsked = DateTime.UtcNow;
        _checkpoint = Task.Run(() =>
        {
            try { store.Checkpoint(); }
            catch (Exception e) { _o.Log?.Invoke($"a checkpoint to shorten {_o.Root}'s manifest ({_m.Chunks.Count} chunks) failed: {e.Message}"); }
        });
    }

    /// <summary>
    /// Replaces the manifest with <paramref name="next"/> (lease renewed) if it is still the one this leader wrote last.
    /// False when it is not: either this leader's own earlier write went through unanswered (adopted; the caller
    /// retries), or another node took the lease (this node stops leading).
    /// </summary>
    private async Task<bool> CommitAsync(BucketManifest next, CancellationToken ct)
    {
        var now = DateTime.UtcNow;
        next.Leader = new LeaderLease
        {
            Id = _o.Id, Host = Environment.MachineName, Endpoint = _o.Endpoint, Epoch = _m.Leader!.Epoch, Until = now + _o.Lease,
        };
        try
        {
            _etag = await _bucket.PutAsync(BucketLayout.Manifest, next.Encode(), ifMatch: _etag, ct: ct).ConfigureAwait(false);
        }
        catch (ObjectChangedException)
        {
            var current = await BucketManifest.ReadAsync(_bucket, ct).ConfigureAwait(false);
            if (current is { } c && c.Manifest.Leader?.Id == _o.Id)
            {
                Committed(c.Manifest, c.ETag, now);
                return false;
            }
            Lose(current?.Manifest.Leader is { } l
                ? $"this node no longer leads {_o.Root}: its lease was taken by {Describe(l)}, at or after {now:u}; writes are refused here (they go to the new leader)"
                : $"this node no longer leads {_o.Root}: the manifest was removed by someone else; writes are refused here");
            return false;
        }
        Committed(next, _etag, now);
        return true;
    }

    private void Committed(BucketManifest m, string etag, DateTime at)
    {
        _m = m;
        _etag = etag;
        _lastCommit = at;
        List<TaskCompletionSource> done = [];
        lock (_lock)
        {
            _shipped = m.ShippedSeq;
            _waiters.RemoveAll(w =>
            {
                if (w.Seq > m.ShippedSeq) return false;
                done.Add(w.Done);
                return true;
            });
        }
        foreach (var d in done) d.TrySetResult();
    }

    private void Lose(string why)
    {
        _lost = why;
        _o.Log?.Invoke("LEADERSHIP LOST: " + why);
        FailWaiters(why);
    }

    private void FailWaiters(string why)
    {
        List<TaskCompletionSource> failed;
        lock (_lock)
        {
            failed = _waiters.Select(w => w.Done).ToList();
            _waiters.Clear();
        }
        foreach (var f in failed) f.TrySetException(new StoreUnavailableException(why));
    }

    /// <summary>Deletes the objects whose retention has passed (unless the manifest names them again).</summary>
    private async Task DeleteRetiredAsync(CancellationToken ct)
    {
        List<string> due;
        var now = DateTime.UtcNow;
        lock (_retired)
        {
            due = _retired.Where(r => r.Due <= now).Select(r => r.Key).Distinct().ToList();
            if (due.Count == 0) return;
        }
        var named = Named(_m);
        foreach (var key in due)
        {
            if (!named.Contains(key)) await _bucket.DeleteAsync(key, ct).ConfigureAwait(false);
            _inBucket.Remove(key);
            lock (_retired) _retired.RemoveAll(r => r.Key == key && r.Due <= now);
        }
    }

    private void Retire(IEnumerable<string> keys)
    {
        var due = DateTime.UtcNow + _o.Retention;
        lock (_retired) _retired.AddRange(keys.Select(k => (k, due)));
    }

    /// <summary>How many objects wait for their retention to pass before they are deleted.</summary>
    public int RetiredObjects { get { lock (_retired) return _retired.Count; } }

    private static HashSet<string> Named(BucketManifest m)
    {
        var named = new HashSet<string>(NamedCheckpointKeys(m.Store), StringComparer.Ordinal);
        foreach (var c in m.Chunks) named.Add(c.Key);
        return named;
    }

    private static IEnumerable<string> NamedCheckpointKeys(StoreManifest store) =>
        store.Adapters.Where(a => a.Checkpoint != null)
            .SelectMany(a => new[] { BucketLayout.Checkpoint(a.Checkpoint!), BucketLayout.Checkpoint(AdapterStore.SnapshotFileOf(a.Checkpoint!)) });

    private BucketManifest Copy(BucketManifest m) => BucketManifest.Decode(m.Encode(), _o.Root.ToString());

    /// <summary>
    /// Stops shipping: a last round (bounded) ships what is durable, then the lease is released (its end set to now)
    /// so another node, or this one restarted, can lead at once. Waiters for a remote commit that did not come fail.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
        }
        _stop.Cancel();
        if (_loop != null) await _loop.ConfigureAwait(false);
        if (_lost == null && _loop != null)
        {
            using var last = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                if (Volatile.Read(ref _store) is { } store && _wal != null)
                    while (await ShipChunkAsync(store, _wal, last.Token).ConfigureAwait(false)) { }
                var release = Copy(_m);
                await CommitAsync(release, last.Token).ConfigureAwait(false);
                // The lease ends now: written with the ETag just committed.
                release = Copy(_m);
                release.Leader!.Until = DateTime.UtcNow;
                await _bucket.PutAsync(BucketLayout.Manifest, release.Encode(), ifMatch: _etag, ct: last.Token).ConfigureAwait(false);
                _o.Log?.Invoke($"released the lease on {_o.Root} (records up to {_m.ShippedSeq} are in the bucket)");
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or InvalidDataException or ObjectDisposedException)
            {
                _o.Log?.Invoke($"stopping: could not ship the last records or release the lease on {_o.Root} ({e.Message}); it expires by itself");
            }
        }
        FailWaiters(_lost ?? $"the leader of {_o.Root} stopped before the record was shipped");
        _bucket.Dispose();
    }
}

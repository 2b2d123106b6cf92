using Hyprstream.Runtime.Store;

namespace Hyprstream.Replication;

/// <summary>
/// A read replica of the store under a bucket prefix. It starts with no local state: the bucket's state is restored
/// (<see cref="BucketRestore"/>) into a private directory and opened as a replica (<see cref="AdapterStore.OpenReplica"/>).
/// Then, every poll interval, it reads the manifest (skipped when its ETag did not change), downloads the committed
/// chunks it has not applied (each verified: <see cref="BucketRestore.CheckChunk"/>) and applies their records in
/// order. When the records it needs are no longer in the bucket (the leader checkpointed and trimmed them, or a
/// chunk is missing) it restores the newer state beside the old one and swaps it in adapter by adapter
/// (<see cref="AdapterStore.ResyncFrom"/>), so clients keep reading throughout.
/// A failed poll (the object store unreachable, a damaged object) changes nothing; it is kept in <see cref="LastError"/>
/// and the next poll tries again.
/// </summary>
public sealed class BucketFollower : IAsyncDisposable
{
    private readonly ObjectStore _bucket;
    private readonly string _dir;
    private readonly Action<string>? _log;
    private readonly CancellationTokenSource _stop = new();
    private string? _etag;
    private Task? _loop;
    private int _resyncs;

    private BucketFollower(ObjectStore bucket, string dir, AdapterStore store, Action<string>? log)
    {
        _bucket = bucket;
        _dir = dir;
        Store = store;
        _log = log;
    }

    /// <summary>The replica clients read (never replaced: a resync swaps its adapters in place).</summary>
    public AdapterStore Store { get; }

    /// <summary>The lease in the last manifest read: who leads, where it serves.</summary>
    public LeaderLease? Leader { get; private set; }

    /// <summary>The leader's shipped sequence and when it shipped, as of the last manifest read.</summary>
    public ulong LeaderSequence { get; private set; }
    public DateTime LeaderShippedAt { get; private set; }

    /// <summary>When the last poll completed without error (UTC).</summary>
    public DateTime? LastPoll { get; private set; }

    /// <summary>Why the last poll failed; null after a good one.</summary>
    public string? LastError { get; private set; }

    /// <summary>Times the replica was re-bootstrapped because the records it needed were gone from the bucket.</summary>
    public int Resyncs => Volatile.Read(ref _resyncs);

    /// <summary>Records the replica is behind the leader's last shipped one.</summary>
    public ulong LagRecords => LeaderSequence > Store.AppliedSequence ? LeaderSequence - Store.AppliedSequence : 0;

    /// <summary>
    /// Seconds since the leader shipped the newest record this replica has not applied (0 when caught up).
    /// </summary>
    public double LagSeconds => LagRecords == 0 ? 0 : Math.Max(0, (DateTime.UtcNow - LeaderShippedAt).TotalSeconds);

    /// <summary>The bucket followed.</summary>
    public S3Uri Bucket => _bucket.Root;

    /// <summary>
    /// Restores the bucket's state into <paramref name="dir"/> (removed first: a follower keeps no local state across
    /// starts) and opens it as a replica. A prefix that holds no store yet is a clear error.
    /// </summary>
    public static async Task<BucketFollower> StartAsync(ObjectStore bucket, string dir, Action<string>? log = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(bucket);
        dir = Path.GetFullPath(dir);
        var read = await BucketManifest.ReadAsync(bucket, ct).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"{bucket.Root} holds no store yet (no {BucketLayout.Manifest} object): start its leader (`hyprstream serve --object-store {bucket.Root}`) first");
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        var store = await BootstrapAsync(bucket, read.Manifest, dir, log, ct).ConfigureAwait(false);
        var f = new BucketFollower(bucket, dir, store, log);
        f.Saw(read.Manifest);
        f._etag = read.ETag;
        // The manifest may have moved while the checkpoints downloaded: catch up before serving.
        await f.PollOnceAsync(ct).ConfigureAwait(false);
        return f;
    }

    private static async Task<AdapterStore> BootstrapAsync(ObjectStore bucket, BucketManifest m, string dir, Action<string>? log, CancellationToken ct)
    {
        var report = await BucketRestore.MaterializeAsync(bucket, m, dir, ct: ct).ConfigureAwait(false);
        log?.Invoke($"bootstrapped from {bucket.Root}: {report.Adapters} adapters, {report.CheckpointFiles} checkpoint files, {report.Chunks} WAL chunks, {report.Bytes:N0} bytes, up to sequence {report.LastSequence} in {report.Elapsed.TotalMilliseconds:F0} ms");
        return AdapterStore.OpenReplica(dir);
    }

    /// <summary>Polls every <paramref name="interval"/> until disposed.</summary>
    public void Run(TimeSpan interval)
    {
        if (interval <= TimeSpan.Zero) throw new ArgumentException($"the poll interval must be positive (got {interval})");
        _loop ??= Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                try { await Task.Delay(interval, _stop.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
                try { await PollOnceAsync(_stop.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) when (_stop.IsCancellationRequested) { return; }
                catch (ObjectDisposedException) when (_stop.IsCancellationRequested) { return; }
                catch (Exception ex)
                {
                    if (LastError != ex.Message) _log?.Invoke($"following {_bucket.Root} failed (retrying every {interval.TotalMilliseconds:F0} ms): {ex.Message}");
                    LastError = ex.Message;
                }
            }
        });
    }

    /// <summary>One round: read the manifest; apply the chunks not applied yet, or resync when they are gone.</summary>
    public async Task PollOnceAsync(CancellationToken ct = default)
    {
        var o = await _bucket.GetAsync(BucketLayout.Manifest, ct: ct).ConfigureAwait(false)
            ?? throw new InvalidDataException($"{_bucket.Root}/{BucketLayout.Manifest} is gone: the store this node follows was removed from the bucket");
        if (o.ETag == _etag && LagRecords == 0)
        {
            Done();
            return;
        }
        var m = BucketManifest.Decode(o.Data, $"{_bucket.Root}/{BucketLayout.Manifest}");
        Saw(m);
        if (!await CatchUpAsync(m, ct).ConfigureAwait(false))
            await ResyncAsync(m, ct).ConfigureAwait(false);
        _etag = o.ETag;
        Done();
    }

    private void Done()
    {
        LastPoll = DateTime.UtcNow;
        LastError = null;
    }

    private void Saw(BucketManifest m)
    {
        Leader = m.Leader;
        LeaderSequence = Math.Max(m.ShippedSeq, m.Chunks.Count > 0 ? m.Chunks[^1].LastSeq : m.Store.MaxSeq);
        LeaderShippedAt = m.ShippedAt;
    }

    /// <summary>Applies the committed chunks past the replica's sequence; false when the records it needs are no longer in the bucket.</summary>
    private async Task<bool> CatchUpAsync(BucketManifest m, CancellationToken ct)
    {
        foreach (var chunk in m.Chunks)
        {
            var applied = Store.AppliedSequence;
            if (chunk.LastSeq <= applied) continue;
            if (chunk.FirstSeq > applied + 1) return false;  // the leader trimmed records this replica never saw
            var o = await _bucket.GetAsync(chunk.Key, ct: ct).ConfigureAwait(false);
            if (o == null) return false;                     // deleted meanwhile (retention ran out)
            var records = BucketRestore.CheckChunk(_bucket, chunk, o.Data);
            try { Store.ApplyReplicated(records); }
            catch (InvalidDataException) { return false; }
        }
        // A checkpoint past everything applied, with no chunk reaching back to it.
        return m.Store.MaxSeq <= Store.AppliedSequence;
    }

    private async Task ResyncAsync(BucketManifest m, CancellationToken ct)
    {
        var dir = $"{_dir}.resync-{Guid.NewGuid():N}";
        try
        {
            using var fresh = await BootstrapAsync(_bucket, m, dir, _log, ct).ConfigureAwait(false);
            var from = Store.AppliedSequence;
            int n = Store.ResyncFrom(fresh);
            Interlocked.Increment(ref _resyncs);
            _log?.Invoke($"resynced from sequence {from} to {Store.AppliedSequence}: the records between were no longer in the bucket; {n} adapters swapped in");
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        if (_loop != null) await _loop.ConfigureAwait(false);
        Store.Dispose();
        try { if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
        _stop.Dispose();
    }
}

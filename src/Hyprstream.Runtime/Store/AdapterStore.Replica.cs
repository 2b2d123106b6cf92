namespace Hyprstream.Runtime.Store;

/// <summary>
/// A read replica: a store directory (restored from a leader's shipped state) opened read-only to its clients, that
/// takes the leader's WAL records through <see cref="ApplyReplicated"/> only. Records are applied in sequence order
/// (a gap is refused: the caller re-bootstraps), each under the same locks the writing paths take (the adapter's
/// gate, its write scope, the manifest lock), so readers see a record whole or not at all, as on the leader.
/// Nothing is written to the directory: applied records live in memory (the cache has no spill tier), so the
/// directory stays a copy of the bootstrap state and a restart bootstraps again.
/// </summary>
public sealed partial class AdapterStore
{
    private bool _replica;
    private ulong _applied;
    private readonly object _applyLock = new();

    /// <summary>
    /// Opens the store in <paramref name="dir"/> as a replica: recovered in memory (as <see cref="OpenReadOnly"/>),
    /// refusing every changing call, and following its leader through <see cref="ApplyReplicated"/>.
    /// </summary>
    public static AdapterStore OpenReplica(string dir)
    {
        var s = OpenReadOnly(dir);
        s._replica = true;
        s._applied = s.Recovery.LastSequence;
        return s;
    }

    /// <summary>True for a store opened by <see cref="OpenReplica"/>.</summary>
    public bool IsReplica => _replica;

    /// <summary>Every record with a sequence ≤ this is applied (the bootstrap state included).</summary>
    public ulong AppliedSequence => Volatile.Read(ref _applied);

    /// <summary>
    /// Raised after a Describe record is applied to a replica (name, sequence, tags, embedding or null when the
    /// embedding was removed), so an index on the replica follows the leader's.
    /// </summary>
    public event Action<string, ulong, string[], float[]?>? DescriptionApplied;

    /// <summary>
    /// Applies the leader's records, in order, skipping those already applied; returns how many it applied. A record
    /// whose sequence is not the next one is a gap: nothing from it on is applied and <see cref="InvalidDataException"/>
    /// says so. A record that cannot be applied (it never should: the leader applied it by the same rules) quarantines
    /// its adapter, as recovery does, and the rest go on.
    /// </summary>
    public int ApplyReplicated(IEnumerable<WalRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (!_replica) throw new InvalidOperationException($"the store in {_dir} is not a replica: records are applied only to a store opened with OpenReplica");
        int applied = 0;
        lock (_applyLock)
        {
            foreach (var r in records)
            {
                ThrowIfDisposed();
                var next = _applied + 1;
                if (r.Seq < next) continue;
                if (r.Seq != next)
                    throw new InvalidDataException($"replicated record {r.Seq} does not follow the last applied one ({_applied}): records {next}..{r.Seq - 1} are missing");
                if (!_quarantine.ContainsKey(r.Adapter))
                {
                    try { ApplyOne(r); }
                    catch (Exception ex) when (ex is not OutOfMemoryException and not ObjectDisposedException)
                    {
                        lock (_metaLock) Quarantine(r, ex, null);
                        _options.Log?.Invoke($"replica: adapter '{r.Adapter}' quarantined: record {r.Seq} ({r.Op}) could not be applied: {ex.Message}");
                    }
                }
                Volatile.Write(ref _applied, r.Seq);
                applied++;
            }
        }
        return applied;
    }

    /// <summary>
    /// Makes this replica hold exactly what <paramref name="fresh"/> (another replica, bootstrapped from a newer
    /// state) holds, adapter by adapter, for a follower whose leader has moved past the records it could still fetch.
    /// Each adapter is swapped whole under its gate (readers see the old state or the new one); adapters
    /// <paramref name="fresh"/> lacks are dropped. The adapters are copied into memory, so the caller may dispose
    /// <paramref name="fresh"/> and delete its directory afterwards. Returns the adapters swapped.
    /// </summary>
    public int ResyncFrom(AdapterStore fresh)
    {
        ArgumentNullException.ThrowIfNull(fresh);
        if (!_replica || !fresh._replica) throw new InvalidOperationException("a resync needs two replicas (OpenReplica)");
        int swapped = 0;
        lock (_applyLock)
        {
            ThrowIfDisposed();
            var keep = fresh.Names.ToHashSet(StringComparer.Ordinal);
            foreach (var name in Names.Where(n => !keep.Contains(n)))
                if (_adapters.TryGetValue(name, out var gone))
                {
                    lock (gone.Gate) lock (_metaLock) DropAdapter(gone);
                    Dropped?.Invoke(name, fresh.AppliedSequence);
                }
            foreach (var name in keep)
            {
                var src = fresh._adapters[name];
                var copy = fresh.Get(name);
                var seq = src.LastSeq;
                _adapters.TryGetValue(name, out var old);
                lock (old?.Gate ?? new object())
                lock (_metaLock)
                {
                    if (old != null) DropAdapter(old);
                    InstallEntry(name, src.BaseModel, seq, copy);
                    var e = _adapters[name];
                    e.Tags = src.Tags;
                    e.Embedding = src.Embedding;
                }
                if (old != null) Dropped?.Invoke(name, seq);
                DescriptionApplied?.Invoke(name, seq, src.Tags, src.Embedding == null ? null : StoreManifest.DecodeEmbedding(src.Embedding));
                swapped++;
            }
            foreach (var q in fresh._quarantine) _quarantine[q.Key] = q.Value;
            Volatile.Write(ref _applied, fresh.AppliedSequence);
        }
        return swapped;
    }

    private void ApplyOne(WalRecord r)
    {
        _adapters.TryGetValue(r.Adapter, out var e);
        switch (r.Op)
        {
            case WalOp.CreateAdapter:
            case WalOp.CreateFrom:
            {
                string? baseModel;
                SparseAdapter built;
                if (r.Op == WalOp.CreateAdapter)
                {
                    baseModel = DecodeBaseModel(r.Payload);
                    built = new SparseAdapter(r.Adapter, baseModel);
                }
                else
                {
                    var (b, batch) = BatchCodec.DecodeAdapter(r.Payload);
                    baseModel = b;
                    built = batch.Build(r.Adapter, baseModel, validate: true); // outside every lock, as Log builds it
                }
                // The replaced adapter's gate, then the manifest lock: the order Log and Delete take them.
                lock (e?.Gate ?? new object())
                lock (_metaLock)
                {
                    if (e != null) DropAdapter(e);
                    InstallEntry(r.Adapter, baseModel, r.Seq, built);
                }
                if (e != null) Dropped?.Invoke(r.Adapter, r.Seq);
                return;
            }
            case WalOp.DeleteAdapter:
                if (e == null) return;
                lock (e.Gate)
                lock (_metaLock) DropAdapter(e);
                Dropped?.Invoke(r.Adapter, r.Seq);
                return;
            case WalOp.Update:
            {
                if (e == null) throw new InvalidDataException($"WAL record {r.Seq} updates adapter '{r.Adapter}', which does not exist");
                var batch = BatchCodec.Decode(r.Payload);
                lock (e.Gate)
                {
                    var lease = _cache.Acquire(e.Cache, write: true);
                    try
                    {
                        batch.ApplyValidated(lease.Adapter); // under the adapter's write scope: readers see all or nothing
                        _cache.MarkDirty(e.Cache, r.Seq);
                    }
                    finally { _cache.Release(lease, true); }
                }
                return;
            }
            case WalOp.Describe:
            {
                if (e == null) throw new InvalidDataException($"WAL record {r.Seq} describes adapter '{r.Adapter}', which does not exist");
                var (tags, emb) = DecodeDescription(r.Payload);
                lock (e.Gate)
                {
                    lock (_metaLock) { e.Tags = tags; e.Embedding = emb; }
                    _cache.MarkDirty(e.Cache, r.Seq);
                }
                DescriptionApplied?.Invoke(r.Adapter, r.Seq, tags, emb == null ? null : StoreManifest.DecodeEmbedding(emb));
                return;
            }
        }
        throw new InvalidDataException($"WAL record {r.Seq} has unknown op {(byte)r.Op}");
    }
}

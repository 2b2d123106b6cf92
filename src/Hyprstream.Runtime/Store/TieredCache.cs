using Hyprstream.Runtime.Snapshots;

namespace Hyprstream.Runtime.Store;

/// <summary>
/// The store's memory-budgeted cache, tiered by what each tier holds. Each adapter's current state lives in exactly
/// one place: L1 (a writable OpenVDB grid, <see cref="SparseAdapter"/>), L2 (a read-only NanoVDB snapshot buffer in
/// RAM, the form the CPU and CUDA kernels read), L3 (a mapped snapshot file: its checkpoint's `.nvdb` when the state
/// is the checkpoint's, else a spill file under cache/), or nowhere (its checkpoint is current). Readers of L2 and L3
/// read the snapshot in place (<see cref="AcquireRead"/>); a caller that needs a grid gets one by copying leaves
/// (<see cref="Acquire"/>), and a write (or the PromoteAfter-th such read) promotes the adapter to L1.
/// Eviction is LRU per tier, by bytes, and cascades L1 → L2 → L3 → out; an adapter leaving the cache with changes not
/// in its checkpoint is written back first. Pinned and leased adapters are never evicted.
/// Every move that converts, writes or maps (a demotion, a spill, a write-back, a cold map or load) runs outside the
/// cache's lock: the adapter is claimed under the lock, the work is done without it, and the result is installed
/// under the lock only if the adapter did not change meanwhile (else the result is discarded and the adapter stays).
/// So one adapter's disk I/O never stalls reads of another (see the blocked-loader tests).
/// Must never: exceed a budget once a lease is released and its moves are done, or hold an adapter's state in two tiers.
/// </summary>
internal sealed class TieredCache : IDisposable
{
    internal sealed class Entry(string name)
    {
        public readonly string Name = name;
        public CacheTier? Tier;
        public SparseAdapter? Decoded;   // L1
        public CachedSnapshot? Snap;     // L2 (in RAM) or L3 (mapped file)
        public long Bytes;
        public LinkedListNode<Entry>? Node;
        public int Leases;               // leases on Decoded (L1), a claim's included
        public bool Writing;
        public bool Pinned;
        public bool Moving;              // claimed by a move in flight (outside the lock)
        public bool DisposeOnRelease;    // removed while leased: the last lease frees the decoded adapter
        public int ColdHits;
        public bool Dirty;
        public ulong LastSeq;
        public long Version;             // bumped by every write: a move installs only if it is unchanged
        /// <summary>The store's record of the adapter (its checkpoint, gate, description): what the callbacks need.</summary>
        public StoredAdapter? Owner;
    }

    /// <summary>A decoded adapter on loan; <see cref="Private"/> copies are disposed when the lease ends.</summary>
    internal readonly record struct Lease(Entry Entry, SparseAdapter Adapter, bool Private);

    /// <summary>A claimed move of one adapter down a tier (or out, with <see cref="Out"/>), done outside the lock.</summary>
    private sealed record Move(Entry E, CacheTier From, ulong Seq, long Version, bool Dirty, long Bytes, SparseAdapter? Decoded, CachedSnapshot? Snap, bool Out);

    private readonly object _lock = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly LinkedList<Entry>[] _lru = [new(), new(), new()];
    private readonly long[] _resident = new long[3], _moving = new long[3];
    private readonly long[] _hits = new long[3], _promotions = new long[3], _evictions = new long[3];
    private long _lookups, _misses, _coldLoads, _writeBacks, _snapshotMaps, _snapshotHits, _spills, _spillIds;
    private readonly List<string> _spillsToDelete = [];
    private readonly string? _spillDir;
    private readonly Func<Entry, SparseAdapter> _loadCold;
    private readonly Action<Entry, SparseAdapter, ulong> _writeBack;
    private readonly Func<Entry, (AdapterSnapshot Snapshot, ulong Seq, string Path)?>? _mapCold;

    public CacheBudgets Budgets { get; }
    public int PromoteAfter { get; }

    /// <summary>Test hook: runs before every write-back, outside the cache's lock (the blocked write-back test).</summary>
    internal static Action<string>? WriteBackHook;

    /// <param name="spillDir">where L3 spill files go; null for a cache that never writes (dirty state never reaches L3).</param>
    /// <param name="writeBack">checkpoints a changed adapter leaving the cache (its state at the given sequence); called outside the lock.</param>
    /// <param name="mapCold">maps the snapshot file of an adapter's checkpoint (its state, the file's sequence and path); null
    /// where there is none. Called outside the cache's lock.</param>
    public TieredCache(string? spillDir, CacheBudgets budgets, int promoteAfter, Func<Entry, SparseAdapter> loadCold, Action<Entry, SparseAdapter, ulong> writeBack,
        Func<Entry, (AdapterSnapshot Snapshot, ulong Seq, string Path)?>? mapCold = null)
    {
        _spillDir = spillDir;
        Budgets = budgets;
        PromoteAfter = Math.Max(1, promoteAfter);
        _loadCold = loadCold;
        _writeBack = writeBack;
        _mapCold = mapCold;
        if (spillDir == null) return;
        Directory.CreateDirectory(spillDir);
        // Spilled files are a cache of RAM state from a previous run: the checkpoints and the WAL are the truth.
        foreach (var f in Directory.EnumerateFiles(spillDir)) File.Delete(f);
    }

    private long Budget(CacheTier t) => t switch { CacheTier.L1 => Budgets.L1Bytes, CacheTier.L2 => Budgets.L2Bytes, _ => Budgets.L3Bytes };

    public Entry GetOrAdd(string name)
    {
        lock (_lock)
        {
            if (!_entries.TryGetValue(name, out var e)) _entries[name] = e = new Entry(name);
            return e;
        }
    }

    /// <summary>
    /// Installs a new adapter's state in L1 (creation, recovery). Evictions it causes wait for <see cref="Settle"/>:
    /// the caller may hold a lock that readers of other adapters take.
    /// </summary>
    public void Install(Entry e, SparseAdapter adapter)
    {
        lock (_lock)
        {
            Drop(e);
            e.Version++;
            Place(e, CacheTier.L1, adapter, null);
        }
    }

    /// <summary>Brings every tier within its budget (the moves run on the calling thread, outside the cache's lock).</summary>
    public void Settle()
    {
        List<Move>? moves;
        lock (_lock) moves = EnforceBudgets();
        RunMoves(moves);
    }

    public Lease Acquire(Entry e, bool write, bool promote = false)
    {
        if (write) lock (_lock) { e.Writing = true; e.Version++; }
        try { return AcquireDecoded(e, write, promote); }
        catch
        {
            if (write) lock (_lock) e.Writing = false;
            throw;
        }
    }

    /// <summary>A hit in L1: counted, moved to the front of the LRU, its grid leased. Under the lock.</summary>
    private Lease LeaseFromL1(Entry e)
    {
        _lookups++;
        _hits[0]++;
        Touch(e);
        e.Leases++;
        return new Lease(e, e.Decoded!, false);
    }

    /// <summary>True while the entry is the cache's entry for its name (not removed).</summary>
    private bool IsLive(Entry e) => _entries.TryGetValue(e.Name, out var live) && ReferenceEquals(live, e);

    private Lease AcquireDecoded(Entry e, bool write, bool promote)
    {
        while (true)
        {
            CacheTier? tier;
            CachedSnapshot? snap;
            ulong seq;
            lock (_lock)
            {
                if (e.Tier == CacheTier.L1) return LeaseFromL1(e);
                if (!IsLive(e)) throw new KeyNotFoundException($"adapter '{e.Name}' was deleted");
                tier = e.Tier;
                seq = e.LastSeq;
                snap = e.Snap;
                if (snap != null) snap.Leases++;
            }
            // A grid made by copying the snapshot's leaves (L2/L3), or loaded from the checkpoint's snapshot file,
            // without the cache's lock: other adapters' reads and writes go on meanwhile (the blocked-loader test).
            SparseAdapter decoded;
            try { decoded = snap != null ? snap.Snapshot.ToAdapter(e.Name) : _loadCold(e); }
            finally { if (snap != null) ReleaseSnapshot(snap); }
            List<Move>? moves;
            Lease lease;
            lock (_lock)
            {
                if (e.Tier != tier || e.LastSeq != seq || !ReferenceEquals(e.Snap, snap) || !IsLive(e))
                {
                    // Moved, changed or removed meanwhile: look again.
                    decoded.Dispose();
                    continue;
                }
                _lookups++;
                if (tier is { } t)
                {
                    _hits[(int)t]++;
                    Touch(e);
                    e.ColdHits++;
                    bool up = write || ((promote || e.ColdHits >= PromoteAfter) && !e.Writing);
                    // Too big for L1 (next to pinned and leased adapters): a private copy. A writer's copy goes back
                    // to L2/L3 when its lease ends; readers never promote while a writer holds one.
                    if (!up || !Fits(CacheTier.L1, decoded.MemoryBytes)) return new Lease(e, decoded, true);
                    _promotions[(int)t]++;
                }
                else
                {
                    _misses++;
                    _coldLoads++;
                    if (!Fits(CacheTier.L1, decoded.MemoryBytes)) return new Lease(e, decoded, true);
                }
                Drop(e);
                e.ColdHits = 0;
                Place(e, CacheTier.L1, decoded, null);
                e.Leases++;
                lease = new Lease(e, decoded, false);
                moves = EnforceBudgets();
            }
            try { RunMoves(moves); }
            catch { Release(lease, false); throw; }
            return lease;
        }
    }

    /// <summary>
    /// A read of the adapter's current state, in the form its tier holds: a lease on the grid (L1), on the snapshot
    /// (L2, L3), or, for an adapter in no tier, on its checkpoint's snapshot file, mapped outside the lock and kept
    /// in L3 (or private to this read where L3 has no room). Exactly one of the two is set; give it back with
    /// <see cref="Release"/> or <see cref="ReleaseSnapshot"/>.
    /// </summary>
    public (Lease? Decoded, CachedSnapshot? Snapshot) AcquireRead(Entry e)
    {
        for (int attempt = 0; ; attempt++)
        {
            lock (_lock)
            {
                if (e.Tier == CacheTier.L1) return (LeaseFromL1(e), null);
                if (!IsLive(e)) throw new KeyNotFoundException($"adapter '{e.Name}' was deleted");
                if (e.Snap is { } s)
                {
                    _lookups++;
                    _hits[(int)e.Tier!.Value]++;
                    _snapshotHits++;
                    Touch(e);
                    s.Leases++;
                    return (null, s);
                }
            }
            // No tier holds it: the checkpoint's snapshot file, mapped and checked without the cache's lock (after a
            // few lost races with writers and checkpoints, the grid instead).
            if (attempt >= 3 || _mapCold?.Invoke(e) is not { } got) return (Acquire(e, write: false), null);
            List<Move>? moves = null;
            CachedSnapshot? result = null;
            lock (_lock)
            {
                // Installed only if the adapter is still in no tier at the state the file holds; else try again.
                if (e.Tier == null && !e.Dirty && e.LastSeq == got.Seq && IsLive(e))
                {
                    _lookups++;
                    _misses++;
                    _snapshotMaps++;
                    result = new CachedSnapshot(got.Snapshot, got.Seq, got.Path) { Leases = 1 };
                    if (Fits(CacheTier.L3, result.Bytes))
                    {
                        Place(e, CacheTier.L3, null, result);
                        moves = EnforceBudgets();
                    }
                    else result.Retired = true; // private to this read: unmapped by its release
                }
            }
            if (result == null) { got.Snapshot.Dispose(); continue; }
            try { RunMoves(moves); }
            catch { ReleaseSnapshot(result); throw; }
            return (null, result);
        }
    }

    public void ReleaseSnapshot(CachedSnapshot s)
    {
        lock (_lock)
        {
            s.Leases--;
            if (s.Retired && s.Leases == 0) s.Snapshot.Dispose();
        }
    }

    /// <param name="settle">false: evictions wait for the caller's <see cref="Settle"/> (it holds the adapter's gate,
    /// which the checkpointer takes too).</param>
    public void Release(Lease lease, bool wrote, bool settle = true)
    {
        // Measured before taking the cache lock: MemoryBytes takes the adapter's read lock, and a writer holding the
        // adapter's write lock may be waiting for the cache lock.
        // Only a write changes the size (and measuring walks the tree, which would dominate an L1 read).
        long now = lease.Private || !wrote ? -1 : lease.Adapter.MemoryBytes;
        var e = lease.Entry;
        if (lease.Private)
        {
            // A writer changed a private copy (too big for L1): its snapshot, made outside the lock, becomes the
            // adapter's state in L2 (and moves on down from there if L2 has no room).
            AdapterSnapshot? snap = null;
            try { if (wrote) snap = AdapterSnapshot.Create(lease.Adapter); }
            finally
            {
                lease.Adapter.Dispose();
                if (wrote) lock (_lock) e.Writing = false;
            }
            if (snap == null) return;
            List<Move>? moves = null;
            lock (_lock)
            {
                if (IsLive(e))
                {
                    Drop(e);
                    Place(e, CacheTier.L2, null, new CachedSnapshot(snap, e.LastSeq));
                    if (settle) moves = EnforceBudgets();
                }
                else snap.Dispose();
            }
            RunMoves(moves);
            return;
        }
        List<Move>? more = null;
        lock (_lock)
        {
            if (wrote) e.Writing = false;
            e.Leases--;
            if (e.DisposeOnRelease)
            {
                if (e.Leases == 0) lease.Adapter.Dispose();
                return;
            }
            if (now >= 0 && e.Tier == CacheTier.L1 && ReferenceEquals(e.Decoded, lease.Adapter))
            {
                _resident[0] += now - e.Bytes;
                e.Bytes = now;
            }
            if (settle) more = EnforceBudgets();
        }
        RunMoves(more);
    }

    /// <summary>Whether an object of this size can be admitted to the tier by evicting only unpinned, unleased adapters.</summary>
    private bool Fits(CacheTier tier, long bytes)
    {
        if (bytes > Budget(tier)) return false;
        long stuck = _lru[(int)tier].Where(x => x.Pinned || (x.Tier == CacheTier.L1 && x.Leases > 0) || x.Moving).Sum(x => x.Bytes);
        return stuck + bytes <= Budget(tier);
    }

    private void Place(Entry e, CacheTier tier, SparseAdapter? decoded, CachedSnapshot? snap)
    {
        e.Tier = tier;
        e.Decoded = decoded;
        e.Snap = snap;
        e.Bytes = tier == CacheTier.L1 ? decoded!.MemoryBytes : snap!.Bytes;
        _resident[(int)tier] += e.Bytes;
        e.Node = _lru[(int)tier].AddFirst(e);
    }

    /// <summary>Takes the entry out of its tier without keeping its state (the caller has it or discards it).</summary>
    private void Drop(Entry e)
    {
        if (e.Tier is not { } t) return;
        _lru[(int)t].Remove(e.Node!);
        _resident[(int)t] -= e.Bytes;
        if (e.Snap != null) Retire(e.Snap);
        e.Tier = null; e.Node = null; e.Decoded = null; e.Snap = null; e.Bytes = 0;
    }

    /// <summary>The snapshot no longer holds the adapter's state: freed now, or by its last lease; a spill file goes after the lock.</summary>
    private void Retire(CachedSnapshot s)
    {
        s.Retired = true;
        if (s.Spill) _spillsToDelete.Add(s.Path!);
        if (s.Leases == 0) s.Snapshot.Dispose();
    }

    private void Touch(Entry e)
    {
        var list = _lru[(int)e.Tier!.Value];
        list.Remove(e.Node!);
        list.AddFirst(e.Node!);
    }

    /// <summary>
    /// Claims least-recently-used, unpinned, unleased entries until every tier would be within budget once their
    /// moves are done; the caller runs the moves after releasing the lock (<see cref="RunMoves"/>).
    /// </summary>
    private List<Move>? EnforceBudgets()
    {
        List<Move>? moves = null;
        for (int t = 0; t < 3; t++)
        {
            var node = _lru[t].Last;
            while (_resident[t] - _moving[t] > Budget((CacheTier)t) && node != null)
            {
                var prev = node.Previous;
                var e = node.Value;
                if (!e.Pinned && e.Leases == 0 && !e.Writing && !e.Moving) (moves ??= []).Add(Claim(e, @out: false));
                node = prev;
            }
        }
        return moves;
    }

    private Move Claim(Entry e, bool @out)
    {
        var from = e.Tier!.Value;
        e.Moving = true;
        _moving[(int)from] += e.Bytes;
        if (from == CacheTier.L1) e.Leases++; // keeps the grid alive if the adapter is removed meanwhile
        else e.Snap!.Leases++;
        return new Move(e, from, e.LastSeq, e.Version, e.Dirty, e.Bytes, e.Decoded, e.Snap, @out);
    }

    /// <summary>Ends a claim (under the lock), installed or not.</summary>
    private void Unclaim(Move m)
    {
        var e = m.E;
        e.Moving = false;
        _moving[(int)m.From] -= m.Bytes;
        if (m.From == CacheTier.L1)
        {
            e.Leases--;
            if (e.DisposeOnRelease && e.Leases == 0) m.Decoded!.Dispose();
        }
        else
        {
            m.Snap!.Leases--;
            if (m.Snap.Retired && m.Snap.Leases == 0) m.Snap.Snapshot.Dispose();
        }
    }

    /// <summary>Whether the claimed adapter is still exactly as claimed (so the move's result may replace it).</summary>
    private bool Unchanged(Move m)
    {
        var e = m.E;
        return IsLive(e) && e.Tier == m.From && e.Version == m.Version && e.LastSeq == m.Seq && !e.Writing && !e.Pinned
               && (m.From == CacheTier.L1 ? e.Leases == 1 && ReferenceEquals(e.Decoded, m.Decoded) : ReferenceEquals(e.Snap, m.Snap));
    }

    /// <summary>Runs claimed moves (and the moves their installs cause) without the cache's lock; rethrows the first failure.</summary>
    private void RunMoves(List<Move>? moves)
    {
        Exception? failure = null;
        var queue = moves == null ? null : new Queue<Move>(moves);
        while (queue is { Count: > 0 })
        {
            var m = queue.Dequeue();
            try
            {
                foreach (var next in RunMove(m) ?? []) queue.Enqueue(next);
            }
            catch (Exception ex)
            {
                lock (_lock) Unclaim(m);
                failure ??= ex;
            }
        }
        DeleteSpills();
        if (failure != null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
    }

    private void DeleteSpills()
    {
        string[] files;
        lock (_lock)
        {
            if (_spillsToDelete.Count == 0) return;
            files = [.. _spillsToDelete];
            _spillsToDelete.Clear();
        }
        foreach (var f in files)
        {
            try { File.Delete(f); }
            catch (IOException) { } // a spill file left behind is deleted when the store opens again
        }
    }

    /// <summary>One move: the new form is made (and written, mapped or checkpointed) here, then installed under the lock.</summary>
    private List<Move>? RunMove(Move m)
    {
        var e = m.E;
        if (m.From == CacheTier.L1 && !m.Out)
        {
            // L1 → L2: the grid's NanoVDB snapshot (the grid's read lock keeps it consistent; the version check
            // discards it if the adapter was written meanwhile).
            var snap = new CachedSnapshot(AdapterSnapshot.Create(m.Decoded!), m.Seq);
            lock (_lock)
            {
                if (!Unchanged(m)) { Unclaim(m); snap.Snapshot.Dispose(); return EnforceBudgets(); }
                if (snap.Bytes <= Budgets.L2Bytes)
                {
                    _evictions[0]++;
                    Unclaim(m);
                    Drop(e);
                    m.Decoded!.Dispose();
                    Place(e, CacheTier.L2, null, snap);
                    return EnforceBudgets();
                }
            }
            return MoveSnapshot(m, snap, owned: true);
        }
        if (m.From == CacheTier.L1)
        {
            // Out of the cache from L1 (an explicit evict): the grid itself is checkpointed when it has changes.
            if (m.Dirty) WriteBack(e, m.Decoded!, m.Seq);
            return Install(m, null, null);
        }
        if (m.From == CacheTier.L2) return MoveSnapshot(m, m.Snap!, owned: false);
        // L3 → out: a spilled (changed) state is checkpointed first; a checkpoint's own file is just unmapped.
        if (m.Dirty)
        {
            using var a = m.Snap!.Snapshot.ToAdapter(e.Name);
            WriteBack(e, a, m.Seq);
        }
        return Install(m, null, null);
    }

    /// <summary>
    /// A snapshot leaving RAM (L2, or straight from L1 when L2 has no room): to L3 as its checkpoint's mapped file
    /// (unchanged state) or a spill file (changed state), else out of the cache (written back when changed).
    /// </summary>
    private List<Move>? MoveSnapshot(Move m, CachedSnapshot snap, bool owned)
    {
        var e = m.E;
        CachedSnapshot? next = null;
        try
        {
            if (!m.Out && snap.Bytes <= Budgets.L3Bytes)
            {
                if (!m.Dirty && _mapCold?.Invoke(e) is { } got)
                {
                    if (got.Seq == m.Seq) next = new CachedSnapshot(got.Snapshot, got.Seq, got.Path);
                    else got.Snapshot.Dispose();
                }
                else if (m.Dirty && _spillDir != null)
                {
                    var path = Path.Combine(_spillDir, $"{Convert.ToHexString(System.Text.Encoding.UTF8.GetBytes(e.Name))}.{Interlocked.Increment(ref _spillIds)}.nvdb");
                    snap.Snapshot.Save(path);
                    try { next = new CachedSnapshot(AdapterSnapshot.Map(path, verifyChecksum: false), m.Seq, path) { Spill = true }; }
                    catch { File.Delete(path); throw; }
                    Interlocked.Increment(ref _spills);
                }
            }
            if (next == null && m.Dirty)
            {
                using var a = snap.Snapshot.ToAdapter(e.Name);
                WriteBack(e, a, m.Seq);
            }
        }
        catch
        {
            if (owned) snap.Snapshot.Dispose();
            next?.Snapshot.Dispose();
            throw;
        }
        return Install(m, next, owned ? snap.Snapshot : null);
    }

    /// <summary>Installs a move's result (<paramref name="next"/> in L3, or nothing: out of the cache) if the adapter is unchanged.</summary>
    /// <param name="intermediate">the move's own snapshot made on the way (L1 → L3 or out), not kept either way.</param>
    private List<Move>? Install(Move m, CachedSnapshot? next, AdapterSnapshot? intermediate)
    {
        var e = m.E;
        lock (_lock)
        {
            intermediate?.Dispose();
            if (m.Dirty && next is not { Spill: true }) _writeBacks++; // a checkpoint was written either way
            if (!Unchanged(m))
            {
                // Changed or in use meanwhile: it stays; the tier may still be over budget (another victim then).
                Unclaim(m);
                if (next != null) Retire(next);
                return EnforceBudgets();
            }
            _evictions[(int)m.From]++;
            if (m.Dirty && next is not { Spill: true } && e.LastSeq == m.Seq) e.Dirty = false;
            Unclaim(m);
            Drop(e);
            if (m.From == CacheTier.L1) m.Decoded!.Dispose();
            if (next != null) Place(e, CacheTier.L3, null, next);
            return EnforceBudgets();
        }
    }

    private void WriteBack(Entry e, SparseAdapter state, ulong seq)
    {
        WriteBackHook?.Invoke(e.Name);
        _writeBack(e, state, seq);
    }

    /// <summary>A private, consistent copy of the adapter's current state (for checkpoints); never blocks readers.</summary>
    public SparseAdapter CloneState(Entry e)
    {
        Lease lease = default;
        CachedSnapshot? snap = null;
        lock (_lock)
        {
            if (e.Tier == CacheTier.L1)
            {
                e.Leases++;
                lease = new Lease(e, e.Decoded!, false);
            }
            else if (e.Snap is { } s)
            {
                s.Leases++;
                snap = s;
            }
        }
        // The caller holds the adapter's gate, so its state cannot change while it is copied outside the lock.
        if (snap != null)
        {
            try { return snap.Snapshot.ToAdapter(e.Name); }
            finally { ReleaseSnapshot(snap); }
        }
        if (lease.Adapter == null) return _loadCold(e);
        try { return lease.Adapter.Clone(); }
        finally { Release(lease, false); }
    }

    public void Pin(Entry e, bool pinned)
    {
        if (pinned)
        {
            var lease = Acquire(e, write: false, promote: true);
            try
            {
                lock (_lock)
                {
                    if (lease.Private) throw new InvalidOperationException($"adapter '{e.Name}' cannot be pinned: it does not fit the L1 budget of {Budgets.L1Bytes} B next to the other pinned adapters");
                    e.Pinned = true;
                }
            }
            finally { Release(lease, false); }
        }
        else
        {
            lock (_lock) e.Pinned = false;
            Settle();
        }
    }

    /// <summary>Loads an adapter into L1 ahead of use (if it fits).</summary>
    public void Prefetch(Entry e)
    {
        Release(Acquire(e, write: false, promote: true), false);
    }

    public void Remove(Entry e)
    {
        lock (_lock)
        {
            var a = e.Tier == CacheTier.L1 ? e.Decoded : null;
            Drop(e);
            // A reader streaming it (DoGet), or a move in flight, keeps it until its lease ends.
            if (a != null && e.Leases > 0) e.DisposeOnRelease = true;
            else a?.Dispose();
            _entries.Remove(e.Name);
        }
        DeleteSpills();
    }

    /// <summary>
    /// Moves the adapter out of every tier (writing unsaved changes back to its checkpoint, outside the cache's
    /// lock): it is read from its checkpoint on next use. False when it is pinned or in use.
    /// </summary>
    public bool Evict(Entry e)
    {
        while (true)
        {
            Move m;
            lock (_lock)
            {
                if (e.Pinned || (e.Tier == CacheTier.L1 && e.Leases > 0) || e.Writing || e.Moving) return false;
                if (e.Tier == null) return true;
                m = Claim(e, @out: true);
            }
            RunMoves([m]);
            lock (_lock) if (e.Tier != null && e.Tier == m.From) return false; // changed meanwhile: in use
        }
    }

    public void MarkDirty(Entry e, ulong seq) { lock (_lock) { e.Dirty = true; e.LastSeq = seq; e.Version++; } }

    /// <summary>After a checkpoint of state <paramref name="seq"/>: clean unless a later update arrived meanwhile.</summary>
    public void MarkCheckpointed(Entry e, ulong seq) { lock (_lock) if (e.LastSeq == seq) e.Dirty = false; }

    public CacheTier? TierOf(Entry e) { lock (_lock) return e.Tier; }

    public CacheStats Stats()
    {
        lock (_lock)
        {
            var tiers = Enumerable.Range(0, 3).Select(t => new TierStats((CacheTier)t, Budget((CacheTier)t), _resident[t], _lru[t].Count,
                _hits[t], _promotions[t], _evictions[t])).ToList();
            return new CacheStats(tiers, _lookups, _misses, _coldLoads, _writeBacks, _entries.Values.Count(e => e.Pinned), _entries.Count)
            {
                SnapshotMaps = _snapshotMaps,
                SnapshotHits = _snapshotHits,
                SnapshotsMapped = _lru[(int)CacheTier.L3].Count,
                Spills = _spills,
            };
        }
    }

    /// <summary>Names in a tier from most to least recently used.</summary>
    public IReadOnlyList<string> LruOrder(CacheTier tier) { lock (_lock) return _lru[(int)tier].Select(e => e.Name).ToList(); }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var e in _entries.Values)
            {
                if (e.Tier == CacheTier.L1) e.Decoded!.Dispose();
                Drop(e);
            }
            _entries.Clear();
        }
        DeleteSpills();
    }
}

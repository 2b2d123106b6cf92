using System.IO.MemoryMappedFiles;
using Hyprstream.Runtime.Bytes;
using Hyprstream.Runtime.Snapshots;

namespace Hyprstream.Runtime.Store;

/// <summary>
/// The store's memory-budgeted cache. Each adapter's current state lives in exactly one place: L1 (a decoded
/// <see cref="SparseAdapter"/>), L2 (a zstd frame of its <see cref="BatchCodec"/> form, in RAM), L3 (that frame in a
/// file under cache/, read through a memory map), or nowhere (its checkpoint file is current: a cold load).
/// Eviction is LRU per tier and cascades L1 → L2 → L3 → out; an adapter leaving the cache with changes not in its
/// checkpoint is written back first. Pinned and leased adapters are never evicted. A reader's hit in L2/L3 decodes a
/// private copy; the PromoteAfter-th hit (or any write) moves the adapter up to L1. An adapter in no tier is read
/// from its mapped snapshot file (<see cref="AcquireRead"/>: nothing decoded, no grid built) and promoted to L1 only
/// by a write or a caller that needs a grid (<see cref="Acquire"/>). Files are mapped outside the cache's lock.
/// Must never: exceed a budget once a lease is released, or hold an adapter's state in two tiers.
/// </summary>
internal sealed class TieredCache : IDisposable
{
    internal sealed class Entry(string name)
    {
        public readonly string Name = name;
        public CacheTier? Tier;
        public SparseAdapter? Decoded;
        public byte[]? Compressed;
        public long Bytes;
        public LinkedListNode<Entry>? Node;
        public int Leases;
        public bool Writing;
        public bool Pinned;
        public bool DisposeOnRelease; // removed while leased: the last lease frees the decoded adapter
        public int ColdHits;
        public bool Dirty;
        public ulong LastSeq;
        public MappedSnapshot? Mapped; // its snapshot file, mapped, while that file holds its state
        /// <summary>The store's record of the adapter (its checkpoint, gate, description): what the callbacks need.</summary>
        public StoredAdapter? Owner;
    }

    /// <summary>A decoded adapter on loan; <see cref="Private"/> copies are disposed when the lease ends.</summary>
    internal readonly record struct Lease(Entry Entry, SparseAdapter Adapter, bool Private);

    private readonly object _lock = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly LinkedList<Entry>[] _lru = [new(), new(), new()];
    private readonly long[] _resident = new long[3];
    private readonly long[] _hits = new long[3], _promotions = new long[3], _evictions = new long[3];
    private long _lookups, _misses, _coldLoads, _writeBacks, _snapshotMaps, _snapshotHits;
    private readonly string _spillDir;
    private readonly Func<Entry, SparseAdapter> _loadCold;
    private readonly Action<Entry, SparseAdapter> _writeBack;
    private readonly Func<Entry, (AdapterSnapshot Snapshot, ulong Seq)?>? _mapCold;

    public CacheBudgets Budgets { get; }
    public int PromoteAfter { get; }
    internal long BloomRejects;

    /// <param name="spillDir">where L3 spills go; null for a cache that never writes (no L3: its budget must be 0).</param>
    /// <param name="mapCold">maps the snapshot file of an adapter in no tier (its state and the file's sequence); null
    /// where there is none. Called outside the cache's lock.</param>
    public TieredCache(string? spillDir, CacheBudgets budgets, int promoteAfter, Func<Entry, SparseAdapter> loadCold, Action<Entry, SparseAdapter> writeBack,
        Func<Entry, (AdapterSnapshot Snapshot, ulong Seq)?>? mapCold = null)
    {
        if (spillDir == null && budgets.L3Bytes != 0) throw new ArgumentException("a cache without a spill folder has no L3 budget", nameof(budgets));
        _spillDir = spillDir ?? "";
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
    private string SpillFile(Entry e) => Path.Combine(_spillDir, Convert.ToHexString(System.Text.Encoding.UTF8.GetBytes(e.Name)) + ".l3");

    public Entry GetOrAdd(string name)
    {
        lock (_lock)
        {
            if (!_entries.TryGetValue(name, out var e)) _entries[name] = e = new Entry(name);
            return e;
        }
    }

    /// <summary>Installs a new adapter's state in L1 (creation, recovery).</summary>
    public void Install(Entry e, SparseAdapter adapter)
    {
        lock (_lock)
        {
            Drop(e);
            Place(e, CacheTier.L1, adapter, null);
            EnforceBudgets();
        }
    }

    public Lease Acquire(Entry e, bool write, bool promote = false)
    {
        if (write) lock (_lock) e.Writing = true;
        try { return AcquireDecoded(e, write, promote); }
        catch
        {
            if (write) lock (_lock) e.Writing = false;
            throw;
        }
    }

    /// <summary>True while the entry is the cache's entry for its name (not removed).</summary>
    private bool IsLive(Entry e) => _entries.TryGetValue(e.Name, out var live) && ReferenceEquals(live, e);

    private Lease AcquireDecoded(Entry e, bool write, bool promote)
    {
        while (true)
        {
            CacheTier? tier;
            byte[]? frame = null;
            ulong seq;
            lock (_lock)
            {
                if (e.Tier == CacheTier.L1)
                {
                    _lookups++;
                    _hits[0]++;
                    Touch(e);
                    e.Leases++;
                    return new Lease(e, e.Decoded!, false);
                }
                if (!IsLive(e)) throw new KeyNotFoundException($"adapter '{e.Name}' was deleted");
                tier = e.Tier;
                seq = e.LastSeq;
                // An L3 spill file is still read under the lock (a delete could remove it otherwise).
                if (tier == CacheTier.L2) frame = e.Compressed;
                else if (tier == CacheTier.L3) frame = ReadSpill(e);
            }
            // Decoded, or loaded from its snapshot file, without the cache's lock: other adapters' reads and writes
            // go on meanwhile (see AdapterStore.ColdLoadHook and the blocked-loader test).
            var decoded = frame != null ? Decode(e.Name, frame) : _loadCold(e);
            lock (_lock)
            {
                if (e.Tier != tier || e.LastSeq != seq || (tier == CacheTier.L2 && !ReferenceEquals(e.Compressed, frame)) || !IsLive(e))
                {
                    // Moved, changed or removed meanwhile: look again.
                    decoded.Dispose();
                    continue;
                }
                _lookups++;
                if (tier is { } t)
                {
                    _hits[(int)t]++;
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
                EnforceBudgets();
                return new Lease(e, decoded, false);
            }
        }
    }

    /// <summary>
    /// A read of the adapter's current state: a lease on its decoded form when a tier holds it (as <see cref="Acquire"/>),
    /// else a lease on its mapped snapshot file (mapped outside the lock on first use, then shared). Exactly one of
    /// the two is set; give it back with <see cref="Release"/> or <see cref="ReleaseMapped"/>.
    /// </summary>
    public (Lease? Decoded, MappedSnapshot? Mapped) AcquireRead(Entry e)
    {
        while (true)
        {
            bool decoded;
            lock (_lock)
            {
                decoded = e.Tier != null || _mapCold == null;
                if (!decoded && e.Mapped is { Retired: false } m && m.Seq == e.LastSeq)
                {
                    _lookups++;
                    _snapshotHits++;
                    m.Leases++;
                    return (null, m);
                }
            }
            // Acquire decodes (L2/L3) or loads without the cache's lock; it must not be called holding it.
            if (decoded) return (Acquire(e, write: false), null);
            // The file is mapped and checked without the cache's lock: other adapters' reads and writes go on.
            if (_mapCold(e) is not { } got) return (Acquire(e, write: false), null);
            lock (_lock)
            {
                // Installed only if the adapter is still in no tier at the state the file holds; else try again.
                if (e.Tier == null && !e.Dirty && e.LastSeq == got.Seq && _entries.TryGetValue(e.Name, out var live) && live == e)
                {
                    _lookups++;
                    if (e.Mapped is { Retired: false } cur && cur.Seq == got.Seq)
                    {
                        got.Snapshot.Dispose();
                        _snapshotHits++;
                        cur.Leases++;
                        return (null, cur);
                    }
                    RetireMapped(e);
                    _snapshotMaps++;
                    e.Mapped = new MappedSnapshot(got.Snapshot, got.Seq) { Leases = 1 };
                    return (null, e.Mapped);
                }
            }
            got.Snapshot.Dispose();
        }
    }

    public void ReleaseMapped(MappedSnapshot m)
    {
        lock (_lock)
        {
            m.Leases--;
            if (m.Retired && m.Leases == 0) m.Snapshot.Dispose();
        }
    }

    /// <summary>The entry's mapped snapshot no longer holds its state (or it leaves): unmapped now, or by its last lease.</summary>
    private static void RetireMapped(Entry e)
    {
        if (e.Mapped is not { } m) return;
        e.Mapped = null;
        m.Retired = true;
        if (m.Leases == 0) m.Snapshot.Dispose();
    }

    public void Release(Lease lease, bool wrote)
    {
        // Measured before taking the cache lock: MemoryBytes takes the adapter's read lock, and a writer holding the
        // adapter's write lock may be waiting for the cache lock.
        // Only a write changes the size (and measuring walks the tree, which would dominate an L1 read).
        long now = lease.Private || !wrote ? -1 : lease.Adapter.MemoryBytes;
        lock (_lock)
        {
            var e = lease.Entry;
            if (wrote) e.Writing = false;
            if (lease.Private)
            {
                if (wrote && IsLive(e))
                {
                    // The writer changed a private copy: it replaces the adapter's state below L1.
                    var frame = Encode(lease.Adapter);
                    Drop(e);
                    if (frame.Length <= Budgets.L2Bytes) Place(e, CacheTier.L2, null, frame);
                    else SpillOrWriteBack(e, frame, lease.Adapter);
                    EnforceBudgets();
                }
                lease.Adapter.Dispose();
                return;
            }
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
            EnforceBudgets();
        }
    }

    /// <summary>Whether an L1 object of this size can be admitted by evicting only unpinned, unleased adapters.</summary>
    private bool Fits(CacheTier tier, long bytes)
    {
        if (bytes > Budget(tier)) return false;
        long stuck = _lru[(int)tier].Where(x => x.Pinned || x.Leases > 0).Sum(x => x.Bytes);
        return stuck + bytes <= Budget(tier);
    }

    private void Place(Entry e, CacheTier tier, SparseAdapter? decoded, byte[]? compressed)
    {
        e.Tier = tier;
        e.Decoded = decoded;
        e.Compressed = compressed;
        e.Bytes = tier switch
        {
            CacheTier.L1 => decoded!.MemoryBytes,
            CacheTier.L2 => compressed!.Length,
            _ => new FileInfo(SpillFile(e)).Length,
        };
        _resident[(int)tier] += e.Bytes;
        e.Node = _lru[(int)tier].AddFirst(e);
    }

    /// <summary>Takes the entry out of its tier without keeping its state (the caller has it or discards it).</summary>
    private void Drop(Entry e)
    {
        if (e.Tier is not { } t) return;
        _lru[(int)t].Remove(e.Node!);
        _resident[(int)t] -= e.Bytes;
        if (t == CacheTier.L3) File.Delete(SpillFile(e));
        e.Tier = null; e.Node = null; e.Decoded = null; e.Compressed = null; e.Bytes = 0;
    }

    private void Touch(Entry e)
    {
        var list = _lru[(int)e.Tier!.Value];
        list.Remove(e.Node!);
        list.AddFirst(e.Node!);
    }

    /// <summary>Evicts least-recently-used, unpinned, unleased entries until every tier is within budget.</summary>
    private void EnforceBudgets()
    {
        for (int t = 0; t < 3; t++)
        {
            var node = _lru[t].Last;
            while (_resident[t] > Budget((CacheTier)t) && node != null)
            {
                var prev = node.Previous;
                var e = node.Value;
                if (!e.Pinned && e.Leases == 0 && !e.Writing) Demote(e);
                node = prev;
            }
        }
    }

    private void Demote(Entry e)
    {
        var from = e.Tier!.Value;
        _evictions[(int)from]++;
        switch (from)
        {
            case CacheTier.L1:
            {
                var a = e.Decoded!;
                Drop(e);
                var frame = Encode(a);
                if (frame.Length <= Budgets.L2Bytes) Place(e, CacheTier.L2, null, frame);
                else SpillOrWriteBack(e, frame, a);
                a.Dispose();
                break;
            }
            case CacheTier.L2:
            {
                var frame = e.Compressed!;
                Drop(e);
                SpillOrWriteBack(e, frame, null);
                break;
            }
            default:
            {
                var frame = ReadSpill(e);
                Drop(e);
                Leave(e, frame, null);
                break;
            }
        }
    }

    private void SpillOrWriteBack(Entry e, byte[] frame, SparseAdapter? decoded)
    {
        if (frame.Length + 8 <= Budgets.L3Bytes)
        {
            WriteSpill(e, frame);
            Place(e, CacheTier.L3, null, null);
        }
        else Leave(e, frame, decoded);
    }

    /// <summary>The adapter leaves the cache; unsaved changes are written back to a checkpoint first.</summary>
    private void Leave(Entry e, byte[] frame, SparseAdapter? decoded)
    {
        if (!e.Dirty) return;
        using var a = decoded == null ? Decode(e.Name, frame) : null;
        _writeBack(e, decoded ?? a!);
        _writeBacks++;
    }

    /// <summary>A private, consistent copy of the adapter's current state (for checkpoints); never blocks readers.</summary>
    public SparseAdapter CloneState(Entry e)
    {
        Lease lease;
        byte[]? frame = null;
        lock (_lock)
        {
            if (e.Tier == CacheTier.L1)
            {
                e.Leases++;
                lease = new Lease(e, e.Decoded!, false);
            }
            else
            {
                lease = default;
                if (e.Tier == CacheTier.L2) frame = e.Compressed;
                else if (e.Tier == CacheTier.L3) frame = ReadSpill(e);
            }
        }
        // The caller holds the adapter's gate, so its state cannot change while it is copied outside the lock.
        if (lease.Adapter == null) return frame != null ? Decode(e.Name, frame) : _loadCold(e);
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
        else lock (_lock) { e.Pinned = false; EnforceBudgets(); }
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
            RetireMapped(e);
            var a = e.Tier == CacheTier.L1 ? e.Decoded : null;
            Drop(e);
            // A reader streaming it (DoGet) keeps it until its lease ends.
            if (a != null && e.Leases > 0) e.DisposeOnRelease = true;
            else a?.Dispose();
            _entries.Remove(e.Name);
        }
    }

    /// <summary>
    /// Moves the adapter out of every tier (writing unsaved changes back to its checkpoint): it is read from its
    /// checkpoint on next use. False when it is pinned or in use.
    /// </summary>
    public bool Evict(Entry e)
    {
        lock (_lock)
        {
            if (e.Pinned || e.Leases > 0 || e.Writing) return false;
            while (e.Tier != null) Demote(e);
            RetireMapped(e); // its snapshot file is unmapped too (now, or by the last reader)
            return true;
        }
    }

    public void MarkDirty(Entry e, ulong seq) { lock (_lock) { e.Dirty = true; e.LastSeq = seq; RetireMapped(e); } }

    /// <summary>After a checkpoint of state <paramref name="seq"/>: clean unless a later update arrived meanwhile.</summary>
    public void MarkCheckpointed(Entry e, ulong seq) { lock (_lock) if (e.LastSeq == seq) e.Dirty = false; }

    public CacheTier? TierOf(Entry e) { lock (_lock) return e.Tier; }

    public CacheStats Stats(long bloomRejects)
    {
        lock (_lock)
        {
            var tiers = Enumerable.Range(0, 3).Select(t => new TierStats((CacheTier)t, Budget((CacheTier)t), _resident[t], _lru[t].Count,
                _hits[t], _promotions[t], _evictions[t])).ToList();
            return new CacheStats(tiers, _lookups, _misses, bloomRejects, _coldLoads, _writeBacks,
                _entries.Values.Count(e => e.Pinned), _entries.Count)
            {
                SnapshotMaps = _snapshotMaps,
                SnapshotHits = _snapshotHits,
                SnapshotsMapped = _entries.Values.Count(e => e.Mapped != null),
            };
        }
    }

    /// <summary>Names in a tier from most to least recently used.</summary>
    public IReadOnlyList<string> LruOrder(CacheTier tier) { lock (_lock) return _lru[(int)tier].Select(e => e.Name).ToList(); }

    internal static byte[] Encode(SparseAdapter a) => Zstd.Compress(BatchCodec.EncodeAdapter(a.BaseModel, AdapterBatch.FromAdapter(a)), 1);

    internal static SparseAdapter Decode(string name, ReadOnlySpan<byte> frame)
    {
        var (baseModel, content) = BatchCodec.DecodeAdapter(Zstd.Decompress(frame));
        return content.Build(name, baseModel, validate: false);
    }

    /// <summary>L3 file: u32 CRC32C of the frame, u32 length, the frame.</summary>
    private void WriteSpill(Entry e, byte[] frame)
    {
        var buf = new byte[8 + frame.Length];
        BitConverter.TryWriteBytes(buf, Crc32C.Compute(frame));
        BitConverter.TryWriteBytes(buf.AsSpan(4), frame.Length);
        frame.CopyTo(buf, 8);
        File.WriteAllBytes(SpillFile(e), buf);
    }

    private unsafe byte[] ReadSpill(Entry e)
    {
        var path = SpillFile(e);
        using var mmf = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        using var view = mmf.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        try
        {
            long len = (long)view.SafeMemoryMappedViewHandle.ByteLength;
            var span = new ReadOnlySpan<byte>(p + view.PointerOffset, (int)Math.Min(len, int.MaxValue));
            if (span.Length < 8) throw new InvalidDataException($"{path} is truncated");
            int n = BitConverter.ToInt32(span[4..]);
            if (n < 0 || 8 + n > span.Length) throw new InvalidDataException($"{path} is truncated");
            var frame = span.Slice(8, n);
            if (Crc32C.Compute(frame) != BitConverter.ToUInt32(span)) throw new InvalidDataException($"{path}: checksum mismatch");
            return frame.ToArray();
        }
        finally { view.SafeMemoryMappedViewHandle.ReleasePointer(); }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var e in _entries.Values)
            {
                if (e.Tier == CacheTier.L1) e.Decoded!.Dispose();
                RetireMapped(e);
            }
            _entries.Clear();
        }
    }
}

using Hyprstream.Runtime.Snapshots;
using Hyprstream.Runtime.Apply;
namespace Hyprstream.Runtime.Store;

/// <summary>
/// The store's tier for the inference read path: NanoVDB snapshots (<see cref="AdapterSnapshot"/>) of adapters'
/// current states, taken on first use from the store (its mapped snapshot file for an adapter no cache tier holds,
/// else converted from the cached grid; with Fp16 precision, the checkpoint's mapped Fp16 file while the adapter is
/// unchanged since it, see <see cref="StoreOptions.SnapshotFp16"/>), taken again once the adapter has changed, and kept within a byte
/// budget with LRU eviction. With the CUDA backend this is the GPU tier: the applier uploads a snapshot on its first
/// kernel call, the budget counts that device copy (grid + leaf list), and eviction frees it on the GPU.
/// Must never: hand out a snapshot older than the adapter's last change at the time of the call, or free one in use.
/// </summary>
public sealed class SnapshotTier : IDisposable
{
    internal sealed class Slot(string name, AdapterSnapshot snapshot, ulong seq, Action? release)
    {
        public readonly string Name = name;
        public readonly AdapterSnapshot Snapshot = snapshot;
        public readonly ulong Seq = seq;
        /// <summary>Gives back the store cache's own snapshot (L2/L3) instead of disposing it; null when the slot owns it.</summary>
        public readonly Action? Release = release;
        public int Leases;
        public bool Retired; // replaced or evicted while leased: freed by the last lease
        public LinkedListNode<Slot>? Node;
        public long Bytes => BytesOf(Snapshot);
    }

    private readonly object _lock = new();
    private readonly AdapterStore _store;
    private readonly IAdapterApplier? _applier;
    private readonly Dictionary<string, Slot> _slots = new(StringComparer.Ordinal);
    private readonly LinkedList<Slot> _lru = new();
    private long _resident, _hits, _builds, _rebuilds, _evictions, _fileLoads;
    private bool _disposed;

    /// <param name="applier">The backend the snapshots are used with; a CUDA applier makes this the GPU tier.</param>
    public SnapshotTier(AdapterStore store, long budgetBytes, IAdapterApplier? applier = null, SnapshotPrecision precision = SnapshotPrecision.Float32)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentOutOfRangeException.ThrowIfNegative(budgetBytes);
        _store = store;
        _applier = applier;
        BudgetBytes = budgetBytes;
        Precision = precision;
    }

    public long BudgetBytes { get; }

    /// <summary>What one snapshot counts against the budget: the NanoVDB grid plus its slot-ordered leaf list (as on the GPU).</summary>
    public static long BytesOf(AdapterSnapshot snapshot) => snapshot.ByteSize + snapshot.LeafCount * 4;
    public SnapshotPrecision Precision { get; }
    /// <summary>Where the snapshots live: "gpu" with the CUDA backend, else "cpu".</summary>
    public string Device => _applier?.Kind == ApplyBackend.Cuda ? "gpu" : "cpu";

    /// <summary>A lease on the adapter's current snapshot; dispose it when the kernels that use it are done.</summary>
    public sealed class Lease : IDisposable
    {
        private readonly SnapshotTier _tier;
        private readonly Slot _slot;
        private int _done;
        internal Lease(SnapshotTier tier, Slot slot) { _tier = tier; _slot = slot; }
        public AdapterSnapshot Snapshot => _done == 0 ? _slot.Snapshot : throw new ObjectDisposedException(nameof(Lease));
        public void Dispose() { if (Interlocked.Exchange(ref _done, 1) == 0) _tier.Release(_slot); }
    }

    /// <summary>The adapter's snapshot as of now: a hit when it has not changed since the last build, else built (ms per 10 M weights).</summary>
    public Lease Acquire(string name)
    {
        ulong seq = _store.SequenceOf(name);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_slots.TryGetValue(name, out var s) && s.Seq >= seq)
            {
                _hits++;
                _lru.Remove(s.Node!);
                _lru.AddFirst(s.Node!);
                s.Leases++;
                return new Lease(this, s);
            }
        }
        // Built outside the lock (other adapters' hits go on); the sequence is read inside the read, so a snapshot is
        // never labelled newer than its state.
        // Float32: the store cache's own snapshot (L2 buffer, L3 mapped file, or the checkpoint's file, mapped into
        // L3), on a lease: no conversion and no copy. Only an adapter in L1 (a grid) is converted.
        // Fp16: the checkpoint's mapped Fp16 file while the adapter is unchanged since that checkpoint (a store with
        // SnapshotFp16), else converted from the adapter's current state.
        bool fromFile = false;
        (AdapterSnapshot snapshot, ulong built, Action? release) taken;
        if (Precision == SnapshotPrecision.Float32) taken = _store.LeaseSnapshot(name);
        else if (_store.OpenCheckpointSnapshot(name, Precision) is { } file) { taken = (file.Snapshot, file.Seq, null); fromFile = true; }
        else taken = _store.Read(name, a => (AdapterSnapshot.Create(a, Precision), _store.SequenceOf(name), (Action?)null));
        var (snapshot, built, release) = taken;
        lock (_lock)
        {
            if (_disposed) { Drop(snapshot, release); throw new ObjectDisposedException(nameof(SnapshotTier)); }
            if (_slots.TryGetValue(name, out var old))
            {
                if (old.Seq >= built)
                {
                    // Someone built the same or a newer state meanwhile: use theirs.
                    Drop(snapshot, release);
                    _hits++;
                    old.Leases++;
                    return new Lease(this, old);
                }
                _rebuilds++;
                Retire(old);
            }
            else _builds++;
            if (fromFile) _fileLoads++;
            var slot = new Slot(name, snapshot, built, release) { Leases = 1 };
            slot.Node = _lru.AddFirst(slot);
            _slots[name] = slot;
            _resident += slot.Bytes;
            Enforce();
            return new Lease(this, slot);
        }
    }

    /// <summary>Drops the adapter's snapshot (and its device copy) unless it is in use; false when in use or absent.</summary>
    public bool Evict(string name)
    {
        lock (_lock)
        {
            if (!_slots.TryGetValue(name, out var s) || s.Leases > 0) return false;
            _evictions++;
            Retire(s);
            return true;
        }
    }

    private void Release(Slot s)
    {
        lock (_lock)
        {
            s.Leases--;
            if (s.Retired) { if (s.Leases == 0) Free(s); return; }
            Enforce();
        }
    }

    /// <summary>Takes the slot out of the tier; it is freed now, or by its last lease.</summary>
    private void Retire(Slot s)
    {
        _slots.Remove(s.Name);
        _lru.Remove(s.Node!);
        _resident -= s.Bytes;
        s.Retired = true;
        if (s.Leases == 0) Free(s);
    }

    private void Free(Slot s)
    {
        _applier?.Evict(s.Snapshot);
        Drop(s.Snapshot, s.Release);
    }

    private static void Drop(AdapterSnapshot snapshot, Action? release)
    {
        if (release != null) release();
        else snapshot.Dispose();
    }

    /// <summary>Evicts least-recently-used snapshots not in use until the tier fits its budget.</summary>
    private void Enforce()
    {
        var node = _lru.Last;
        while (_resident > BudgetBytes && node != null)
        {
            var prev = node.Previous;
            if (node.Value.Leases == 0) { _evictions++; Retire(node.Value); }
            node = prev;
        }
    }

    public SnapshotTierStats Stats()
    {
        lock (_lock) return new SnapshotTierStats(Device, Precision, BudgetBytes, _resident, _slots.Count, _hits, _builds, _rebuilds, _evictions) { FileLoads = _fileLoads };
    }

    /// <summary>Names from most to least recently used.</summary>
    public IReadOnlyList<string> LruOrder() { lock (_lock) return _lru.Select(s => s.Name).ToList(); }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var s in _slots.Values.ToList()) Retire(s);
        }
    }
}

using System.Runtime.CompilerServices;

namespace Hyprstream.Runtime.Apply;

/// <summary>
/// Device copies of host objects (the CUDA backend's uploaded snapshots), each reference counted: the table holds one
/// reference and every <see cref="DeviceCopyLease"/> (a launch plan, a launch in progress) holds one more. The lease
/// rule: <see cref="Evict"/> only drops the table's reference, so a copy that a live plan still points to is freed when
/// the last lease ends, never under it. The free action is injected (the CUDA backend disposes device memory; the tests
/// count calls), so this logic runs without a GPU. A copy whose key is collected without an eviction is not freed
/// here: its memory handles' finalizers free it once no lease refers to it either.
/// </summary>
internal sealed class DeviceCopies<TKey, TCopy>(Action<TCopy> free) where TKey : class where TCopy : class
{
    private readonly ConditionalWeakTable<TKey, Entry> _table = new();
    private readonly object _lock = new();

    internal sealed class Entry(TCopy copy)
    {
        public TCopy Copy { get; } = copy;
        public int References = 1;  // the table's
        public bool Freed;
    }

    /// <summary>A counted reference to one device copy; disposing it (once) may free an evicted copy.</summary>
    internal sealed class DeviceCopyLease(DeviceCopies<TKey, TCopy> owner, Entry entry) : IDisposable
    {
        private int _released;
        public TCopy Copy => Volatile.Read(ref _released) == 0 ? entry.Copy : throw new ObjectDisposedException(nameof(DeviceCopyLease));
        public void Dispose() { if (Interlocked.Exchange(ref _released, 1) == 0) owner.Release(entry); }
    }

    /// <summary>A lease on the key's copy, made by <paramref name="upload"/> first if there is none.</summary>
    public DeviceCopyLease Acquire(TKey key, Func<TKey, TCopy> upload)
    {
        lock (_lock)
        {
            if (!_table.TryGetValue(key, out var e))
            {
                e = new Entry(upload(key));
                _table.AddOrUpdate(key, e);
            }
            e.References++;
            return new DeviceCopyLease(this, e);
        }
    }

    /// <summary>True when the key has a copy in the table (a copy evicted but still leased does not count).</summary>
    public bool Contains(TKey key) { lock (_lock) return _table.TryGetValue(key, out _); }

    /// <summary>
    /// Takes the key's copy out of the table: freed now when nothing leases it, else when its last lease ends. The next
    /// <see cref="Acquire"/> of the key makes a new copy. False when the key had none.
    /// </summary>
    public bool Evict(TKey key)
    {
        Entry? e;
        lock (_lock)
        {
            if (!_table.TryGetValue(key, out e)) return false;
            _table.Remove(key);
        }
        Release(e);
        return true;
    }

    private void Release(Entry e)
    {
        lock (_lock)
        {
            if (--e.References > 0 || e.Freed) return;
            e.Freed = true;
        }
        free(e.Copy);
    }
}

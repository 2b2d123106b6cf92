namespace Hyprstream.Runtime.Store;

/// <summary>
/// An adapter on loan from the store for a long read (<see cref="AdapterStore.OpenRead"/>): it stays resident while
/// the reader lives. Read it through its own thread-safe API; never change it (changes go through the store's log).
/// </summary>
public sealed class AdapterReader : IDisposable
{
    private readonly TieredCache _cache;
    private readonly TieredCache.Lease _lease;
    private int _disposed;

    internal AdapterReader(TieredCache cache, TieredCache.Lease lease)
    {
        _cache = cache;
        _lease = lease;
    }

    public SparseAdapter Adapter
    {
        get
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            return _lease.Adapter;
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) _cache.Release(_lease, false);
    }
}

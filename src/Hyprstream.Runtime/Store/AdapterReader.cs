using Hyprstream.Runtime.Snapshots;

namespace Hyprstream.Runtime.Store;

/// <summary>
/// An adapter on loan from the store for a long read (<see cref="AdapterStore.OpenRead"/>): it stays resident while
/// the reader lives. It is either the cached, writable adapter (<see cref="Adapter"/>; read it through its own
/// thread-safe API and never change it: changes go through the store's log) or, for an adapter in L2, L3 or no tier,
/// its NanoVDB snapshot (<see cref="Snapshot"/>: a buffer in RAM or a mapped file; immutable, read in place).
/// <see cref="Modules"/> reads either.
/// </summary>
public sealed class AdapterReader : IDisposable
{
    private readonly TieredCache _cache;
    private readonly TieredCache.Lease? _lease;
    private readonly CachedSnapshot? _mapped;
    private int _disposed;

    internal AdapterReader(TieredCache cache, TieredCache.Lease? lease, CachedSnapshot? mapped)
    {
        _cache = cache;
        _lease = lease;
        _mapped = mapped;
    }

    /// <summary>The cached grid (L1), or null when the read is served from a snapshot.</summary>
    public SparseAdapter? Adapter
    {
        get
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            return _lease?.Adapter;
        }
    }

    /// <summary>The snapshot the read is served from (L2 buffer or mapped file), or null when it is served from the grid.</summary>
    public AdapterSnapshot? Snapshot
    {
        get
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            return _mapped?.Snapshot;
        }
    }

    /// <summary>The adapter's modules in its own order, whichever form holds them.</summary>
    public IReadOnlyList<IModuleSource> Modules =>
        Adapter is { } a ? a.Modules.ToList<IModuleSource>() : Snapshot!.Modules.ToList<IModuleSource>();

    /// <summary>The named module, or null.</summary>
    public IModuleSource? Module(string name) =>
        Adapter is { } a ? (a.Modules.TryGet(name, out var m) ? m : null) : Snapshot!.Modules.FirstOrDefault(x => x.Name == name);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (_lease is { } l) _cache.Release(l, false);
        if (_mapped != null) _cache.ReleaseSnapshot(_mapped);
    }
}

namespace Hyprstream.Runtime.Apply;

/// <summary>
/// Device arguments prepared once and launched many times. A plan owns what its arguments point to (argument
/// buffers, and a lease on each device copy of a snapshot), so an eviction never frees memory a plan still uses;
/// disposing the plan releases them, last first.
/// </summary>
public abstract class DevicePlan : IDisposable
{
    private readonly List<IDisposable> _owned = new();
    private bool _disposed;

    private protected DevicePlan() { }

    internal T Own<T>(T d) where T : IDisposable { _owned.Add(d); return d; }

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _owned.Clear();
    }
}

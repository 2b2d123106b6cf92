using Hyprstream.Runtime;

namespace Hyprstream.Server.Service;

/// <summary>
/// A loaded adapter plus what the service needs around it: a gate that serialises batches and saves (so a save
/// never catches half a batch), and version counters for group commit (one save covers every batch before it).
/// </summary>
public sealed class AdapterEntry(SparseAdapter adapter)
{
    public SparseAdapter Adapter { get; } = adapter;
    public string Name => Adapter.Name;

    /// <summary>Held while a batch is applied or a save snapshot is written.</summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);

    /// <summary>Serialises savers; a saver that finds its version already saved returns at once.</summary>
    internal SemaphoreSlim SaveLock { get; } = new(1, 1);

    private long _version;
    internal long SavedVersion;

    public long Version => Interlocked.Read(ref _version);

    /// <summary>Call after a change, under <see cref="Gate"/>.</summary>
    public long Changed() => Interlocked.Increment(ref _version);

    public bool Removed { get; internal set; }
}

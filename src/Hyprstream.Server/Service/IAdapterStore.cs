using Hyprstream.Runtime;

namespace Hyprstream.Server.Service;

/// <summary>
/// Where the service keeps adapters: in memory, persisted to a data directory. The Flight service only talks to
/// this interface, so the durable store (write-ahead log, snapshots) can replace <see cref="DirectoryAdapterStore"/>.
/// </summary>
public interface IAdapterStore : IDisposable
{
    string DataDirectory { get; }

    /// <summary>Loaded adapters, by name (sorted).</summary>
    IReadOnlyList<AdapterEntry> Loaded { get; }

    /// <summary>The loaded adapter, or null.</summary>
    AdapterEntry? Find(string name);

    /// <summary>The loaded adapter; when absent and <paramref name="create"/> is given, a new one made by it.</summary>
    AdapterEntry GetOrAdd(string name, Func<SparseAdapter>? create, out bool created);

    /// <summary>Returns once every change made to the entry before the call is on disk (saved, fsynced, renamed).</summary>
    Task PersistAsync(AdapterEntry entry, CancellationToken ct);

    /// <summary>Drops it from memory and removes its file. False when unknown.</summary>
    bool Delete(string name);

    /// <summary>Drops it from memory; its file stays (and is not picked up by rescan until loaded again).</summary>
    bool Unload(string name);

    /// <summary>Loads (or reloads) `name.vdb` from the data directory.</summary>
    AdapterEntry Load(string name);

    /// <summary>Loads `.vdb` files in the data directory not loaded yet; returns the names loaded and the failures.</summary>
    (IReadOnlyList<string> Loaded, IReadOnlyDictionary<string, string> Failed) Rescan();

    /// <summary>Size of the adapter's file, or 0.</summary>
    long DiskBytes(string name);
}

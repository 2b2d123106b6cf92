using System.Diagnostics;
using Hyprstream.Runtime;

namespace Hyprstream.Server.Service;

/// <summary>
/// Adapters held in memory and saved as `name.vdb` in one directory (atomic save: temp + fsync + rename, done by
/// <see cref="SparseAdapter.Save"/>). `.vdb` files placed in the directory are served under their file name.
/// </summary>
public sealed class DirectoryAdapterStore : IAdapterStore
{
    private readonly object _lock = new();
    private readonly SortedDictionary<string, AdapterEntry> _loaded = new(StringComparer.Ordinal);
    private readonly HashSet<string> _unloaded = new(StringComparer.Ordinal);
    private readonly Action<string>? _log;

    public DirectoryAdapterStore(string dataDirectory, Action<string>? log = null)
    {
        DataDirectory = Path.GetFullPath(dataDirectory);
        Directory.CreateDirectory(DataDirectory);
        _log = log;
    }

    /// <summary>Where `hyprstream serve` keeps adapters without --data: $HYPRSTREAM_DATA, else $XDG_DATA_HOME/hyprstream, else ~/.local/share/hyprstream.</summary>
    public static string DefaultDirectory()
    {
        if (Environment.GetEnvironmentVariable("HYPRSTREAM_DATA") is { Length: > 0 } d) return d;
        var xdg = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
        var baseDir = string.IsNullOrEmpty(xdg) ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share") : xdg;
        return Path.Combine(baseDir, "hyprstream");
    }

    public string DataDirectory { get; }

    /// <summary>Saves run this many (for `stats`).</summary>
    public long Saves => Interlocked.Read(ref _saves);
    private long _saves;

    public IReadOnlyList<AdapterEntry> Loaded
    {
        get { lock (_lock) return _loaded.Values.ToList(); }
    }

    public AdapterEntry? Find(string name)
    {
        lock (_lock) return _loaded.GetValueOrDefault(name);
    }

    public AdapterEntry GetOrAdd(string name, Func<SparseAdapter>? create, out bool created)
    {
        AdapterNames.ValidateAdapter(name);
        lock (_lock)
        {
            created = false;
            if (_loaded.TryGetValue(name, out var e)) return e;
            if (create == null) throw new KeyNotFoundException($"no adapter '{name}'");
            if (File.Exists(PathOf(name))) throw new InvalidOperationException($"'{name}.vdb' exists in the data directory but is not loaded; load it first");
            var a = create();
            if (a.Name != name) a.Name = name;
            e = new AdapterEntry(a);
            _loaded[name] = e;
            _unloaded.Remove(name);
            created = true;
            return e;
        }
    }

    public async Task PersistAsync(AdapterEntry entry, CancellationToken ct)
    {
        long target = entry.Version;
        // A created-but-empty adapter (version 0) is saved too, so that it exists on disk.
        await entry.SaveLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (entry.SavedVersion >= target && File.Exists(PathOf(entry.Name))) return;
            if (entry.Removed) throw new InvalidOperationException($"adapter '{entry.Name}' was deleted or unloaded");
            // Snapshot under the gate (a batch is never half in it), then save the snapshot while writers go on:
            // batches applied during this save are covered by the next one (group commit).
            long v;
            SparseAdapter snapshot;
            await entry.Gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            try
            {
                if (entry.Removed) throw new InvalidOperationException($"adapter '{entry.Name}' was deleted or unloaded");
                v = entry.Version;
                snapshot = entry.Adapter.Clone();
            }
            finally { entry.Gate.Release(); }
            using (snapshot)
            {
                var sw = Stopwatch.StartNew();
                await Task.Run(() => snapshot.Save(PathOf(entry.Name))).ConfigureAwait(false);
                entry.SavedVersion = v;
                Interlocked.Increment(ref _saves);
                _log?.Invoke($"saved {entry.Name} (version {v}) in {sw.ElapsedMilliseconds} ms");
            }
        }
        finally { entry.SaveLock.Release(); }
    }

    public bool Delete(string name)
    {
        AdapterNames.ValidateAdapter(name);
        AdapterEntry? e;
        lock (_lock)
        {
            _loaded.Remove(name, out e);
            _unloaded.Remove(name);
        }
        bool existed = e != null || File.Exists(PathOf(name));
        if (e != null) Retire(e);
        if (File.Exists(PathOf(name))) File.Delete(PathOf(name));
        return existed;
    }

    public bool Unload(string name)
    {
        AdapterNames.ValidateAdapter(name);
        AdapterEntry? e;
        lock (_lock)
        {
            if (!_loaded.Remove(name, out e)) return false;
            _unloaded.Add(name);
        }
        Retire(e);
        return true;
    }

    /// <summary>Waits for batches and saves in flight, then frees the native grid.</summary>
    private static void Retire(AdapterEntry e)
    {
        e.SaveLock.Wait();
        e.Gate.Wait();
        e.Removed = true;
        e.Adapter.Dispose();
        e.Gate.Release();
        e.SaveLock.Release();
    }

    public AdapterEntry Load(string name)
    {
        AdapterNames.ValidateAdapter(name);
        var path = PathOf(name);
        if (!File.Exists(path)) throw new FileNotFoundException($"no file '{name}.vdb' in the data directory");
        var adapter = LoadFile(path, name);
        AdapterEntry? old;
        var e = new AdapterEntry(adapter) { SavedVersion = 0 };
        lock (_lock)
        {
            _loaded.Remove(name, out old);
            _loaded[name] = e;
            _unloaded.Remove(name);
        }
        if (old != null) Retire(old);
        return e;
    }

    public (IReadOnlyList<string> Loaded, IReadOnlyDictionary<string, string> Failed) Rescan()
    {
        var loaded = new List<string>();
        var failed = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(DataDirectory, "*.vdb").Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileNameWithoutExtension(file);
            lock (_lock)
                if (_loaded.ContainsKey(name) || _unloaded.Contains(name)) continue;
            try
            {
                AdapterNames.ValidateAdapter(name);
                var e = new AdapterEntry(LoadFile(file, name));
                lock (_lock)
                {
                    if (!_loaded.TryAdd(name, e)) { e.Adapter.Dispose(); continue; }
                }
                loaded.Add(name);
            }
            catch (Exception ex) when (ex is InvalidDataException or IOException or ArgumentException or KeyNotFoundException or UnauthorizedAccessException)
            {
                failed[name] = ex.Message;
                _log?.Invoke($"not serving {Path.GetFileName(file)}: {ex.Message}");
            }
        }
        return (loaded, failed);
    }

    private static SparseAdapter LoadFile(string path, string name)
    {
        // The file name is the adapter's name; a file holding one adapter under another grid name is served renamed.
        var adapter = SparseAdapter.Load(path);
        if (adapter.Name != name) adapter.Name = name;
        return adapter;
    }

    public long DiskBytes(string name)
    {
        var f = new FileInfo(PathOf(name));
        return f.Exists ? f.Length : 0;
    }

    private string PathOf(string name) => Path.Combine(DataDirectory, AdapterNames.ValidateAdapter(name) + ".vdb");

    public void Dispose()
    {
        List<AdapterEntry> all;
        lock (_lock)
        {
            all = _loaded.Values.ToList();
            _loaded.Clear();
        }
        foreach (var e in all) Retire(e);
    }
}

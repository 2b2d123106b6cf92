using System.Diagnostics;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Service;

/// <summary>
/// The service's data directory. Adapters live in the durable store in `&lt;data&gt;/.store` (write-ahead log,
/// snapshots, tiered cache: <see cref="AdapterStore"/>); every change the service acknowledges is in its log first.
/// `.vdb` files at the top level are the hand-over with scripts: a file not in the store yet is imported at start and
/// on rescan, `load` imports (replaces) one on request, and `save` writes the adapter's current state there.
/// Symbolic links there are not followed: a linked `.vdb` is not imported (rescan reports it in `failed`, `load`
/// refuses it) and `save` refuses to replace one, so nothing reaches outside the data directory through a link.
/// </summary>
public sealed partial class ServiceStore : IDisposable
{
    /// <summary>The store's folder inside the data directory (a name no adapter can take).</summary>
    public const string StoreFolder = ".store";
    private readonly Action<string>? _log;

    public ServiceStore(string dataDirectory, StoreOptions? options = null, Action<string>? log = null)
    {
        DataDirectory = Path.GetFullPath(dataDirectory);
        Directory.CreateDirectory(DataDirectory);
        _log = log;
        // The store reports failed checkpoints and rebuilt snapshot files to the server's log (unless the caller routes them).
        options ??= new StoreOptions();
        if (options.Log == null && log != null) options = options with { Log = m => log($"store: {m}") };
        Store = AdapterStore.Open(Path.Combine(DataDirectory, StoreFolder), options);
        if (!Store.Recovery.Clean || Store.Recovery.RecordsReplayed > 0) _log?.Invoke($"store recovered: {Store.Recovery}");
        foreach (var q in Store.Quarantined)
            _log?.Invoke($"QUARANTINED adapter '{q.Name}' (not served): {q.Reason}; stop the server and run `hyprstream store repair {DataDirectory}`");
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
    public AdapterStore Store { get; }

    /// <summary>`name.vdb` at the top of the data directory (the name is validated: no path tricks).</summary>
    public string FileOf(string name) => Path.Combine(DataDirectory, AdapterNames.ValidateAdapter(name) + ".vdb");

    /// <summary>Imports every top-level `.vdb` whose name is not in the store; returns the names imported and the failures.</summary>
    public (IReadOnlyList<string> Imported, IReadOnlyDictionary<string, string> Failed) Rescan()
    {
        var imported = new List<string>();
        var failed = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(DataDirectory, "*.vdb").Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileNameWithoutExtension(file);
            try
            {
                AdapterNames.ValidateAdapter(name);
                if (Store.Contains(name)) continue;
                RefuseLink(file, "imported");
                Import(name, replace: false);
                imported.Add(name);
            }
            catch (Exception ex) when (ex is InvalidDataException or IOException or ArgumentException or KeyNotFoundException or UnauthorizedAccessException or InvalidOperationException)
            {
                failed[name] = ex.Message;
                _log?.Invoke($"not serving {Path.GetFileName(file)}: {ex.Message}");
            }
        }
        return (imported, failed);
    }

    /// <summary>
    /// Reads `name.vdb` and logs it into the store as one record (the adapter appears whole or not at all), replacing
    /// a stored adapter of that name when <paramref name="replace"/>. The file's grid name does not matter.
    /// </summary>
    public void Import(string name, bool replace)
    {
        var path = FileOf(name);
        RefuseLink(path, "imported");
        if (!File.Exists(path)) throw new FileNotFoundException($"no file '{name}.vdb' in the data directory");
        ImportFile(name, path, replace);
    }

    /// <summary>Creates (or with <paramref name="replace"/> replaces) adapter <paramref name="name"/> from the .vdb at <paramref name="path"/>, as one WAL record.</summary>
    public void ImportFile(string name, string path, bool replace)
    {
        AdapterNames.ValidateAdapter(name);
        var sw = Stopwatch.StartNew();
        using (var adapter = SparseAdapter.Load(path))
            Store.Create(name, adapter.BaseModel, AdapterBatch.FromAdapter(adapter), replace);
        _log?.Invoke($"imported {name} from {Path.GetFileName(path)} in {sw.ElapsedMilliseconds} ms");
    }

    /// <summary>Writes the adapter's current state to `name.vdb` at the top of the data directory (atomic).</summary>
    public (string Path, long Bytes) Export(string name)
    {
        var path = FileOf(name);
        RefuseLink(path, "replaced");
        Store.Export(name, path);
        return (path, new FileInfo(path).Length);
    }

    /// <summary>Deletes the adapter from the store (logged) and its top-level `.vdb`, if any. False when neither existed.</summary>
    public bool Delete(string name)
    {
        var path = FileOf(name);
        bool existed = false;
        // The file first: a rescan in between must not import it again. A link is removed itself, never its target.
        if (File.Exists(path) || IsLink(path))
        {
            File.Delete(path);
            existed = true;
        }
        if (Store.Contains(name))
        {
            try { Store.Delete(name); existed = true; }
            catch (KeyNotFoundException) { } // deleted by someone else meanwhile
        }
        return existed;
    }

    /// <summary>True when <paramref name="path"/> is a symbolic link (or another reparse point), dangling or not.</summary>
    public static bool IsLink(string path)
    {
        try { return new FileInfo(path).LinkTarget != null; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    private static void RefuseLink(string path, string what)
    {
        if (IsLink(path))
            throw new InvalidOperationException(
                $"'{Path.GetFileName(path)}' in the data directory is a symbolic link; links there are not followed, so it is not {what} (replace it with a regular file)");
    }

    public void Dispose()
    {
        StopReplication(); // the leader's last shipping round reads the store: before it closes
        StopFollowing();
        Store.Dispose();
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using Hyprstream.Runtime.Bytes;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Runtime.Index;

/// <summary>
/// The index on an adapter store. An embedding is the adapter's description in the store (tags + float32 vector,
/// one WAL record, in its checkpoints and manifest): written there first, applied to the graph once durable, gone
/// when the adapter is deleted or replaced (<see cref="AdapterStore.Dropped"/>). The index's own folder holds two
/// files that are not logs: `index.settings` (metric, dimension, HNSW knobs; replaced atomically) and `index.graph`
/// (the graph, a cache written in the background; with `.prev`). Opening loads the cache and reconciles it with the
/// store's embeddings, so a lost or stale cache costs time, never data.
/// </summary>
public sealed partial class AdapterIndex
{
    public const string SettingsFile = "index.settings";
    public const string GraphCacheFile = "index.graph";

    private AdapterStore? _backing;
    // The store sequence last applied per adapter: two writers of one adapter may reach the graph out of order.
    private readonly Dictionary<string, ulong> _appliedSeq = new(StringComparer.Ordinal);
    private Task? _cacheTask;
    private long _cachedAt;

    /// <summary>True when <paramref name="folder"/> holds a store-backed index's settings.</summary>
    public static bool HasSettings(string folder) => File.Exists(Path.Combine(folder, SettingsFile));

    /// <summary>A new, empty index on <paramref name="store"/> with its files in <paramref name="folder"/>.</summary>
    public static AdapterIndex CreateOnStore(AdapterStore store, string folder, int dimensions, DistanceMetric metric, HnswParameters? parameters = null)
    {
        Directory.CreateDirectory(folder);
        var index = new AdapterIndex(dimensions, metric, parameters ?? new HnswParameters(), folder) { _backing = store };
        index.WriteSettings();
        index.Reconcile(Embeddings(store));
        store.Dropped += index.OnDropped;
        return index;
    }

    /// <summary>
    /// The index of <paramref name="store"/> (settings in <paramref name="folder"/>), its graph loaded from the cache
    /// and brought in line with the store's embeddings; null when there are no settings and no embeddings yet.
    /// Without settings (lost) but with embeddings, a cosine index of their dimension is made.
    /// </summary>
    public static AdapterIndex? OpenOnStore(AdapterStore store, string folder)
    {
        var embeddings = Embeddings(store);
        var settings = ReadSettings(folder);
        if (settings == null && embeddings.Count == 0) return null;
        var (metric, dim, p) = settings ?? (DistanceMetric.Cosine, embeddings[0].Vector.Length, new HnswParameters());
        Directory.CreateDirectory(folder);
        var index = new AdapterIndex(dim, metric, p, folder) { _backing = store };
        if (settings == null) index.WriteSettings();
        index.Reconcile(embeddings);
        store.Dropped += index.OnDropped;
        return index;
    }

    private static List<(string Name, string[] Tags, float[] Vector)> Embeddings(AdapterStore store)
    {
        var list = new List<(string, string[], float[])>();
        foreach (var name in store.Names)
        {
            try
            {
                var (tags, v) = store.Description(name);
                if (v is { Length: > 0 }) list.Add((name, tags, v));
            }
            catch (KeyNotFoundException) { } // deleted meanwhile
        }
        return list;
    }

    /// <summary>Loads the graph cache (if intact and of this index) and makes it hold exactly the store's embeddings.</summary>
    private void Reconcile(List<(string Name, string[] Tags, float[] Vector)> embeddings)
    {
        string? used = null;
        bool damaged = false;
        var byName = new Dictionary<string, (string[] Tags, float[] Vector)>(StringComparer.Ordinal);
        foreach (var e in embeddings) byName[e.Name] = (e.Tags, e.Vector);
        var done = new HashSet<string>(StringComparer.Ordinal);
        long changed = 0, skipped = 0;
        try
        {
            var (image, file) = ReadNewestCache(_dir!);
            if (image != null && image.Metric == Metric && image.Dim == Dimensions)
            {
                Load(image);
                used = file;
                damaged = image.GraphDamaged;
                foreach (var entry in image.Entries)
                {
                    if (byName.TryGetValue(entry.Name, out var e) && Same(e.Vector, entry.Vector))
                    {
                        var id = _state.Ids[entry.Name];
                        _state.Tags[id] = new HashSet<string>(e.Tags, StringComparer.Ordinal);
                        done.Add(entry.Name);
                    }
                    else { _state.Remove(entry.Name); changed++; }
                }
            }
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or ArgumentException or KeyNotFoundException)
        {
            _state = new IndexState(Dimensions, Metric, _parameters); // a cache that does not load is not used
            used = null;
            done.Clear();
        }
        var add = new List<(string Name, string[] Tags, double[] Vector)>();
        foreach (var e in embeddings)
        {
            if (done.Contains(e.Name)) continue;
            var v = Widen(e.Vector);
            try { _state.Store.Prepare(v); add.Add((e.Name, e.Tags, v)); }
            catch (ArgumentException) { skipped++; }
        }
        _state.AddMany(add, threads: 1); // sequential: see BuildThreads
        changed += add.Count;
        Recovery = new IndexRecovery(used, used == null || damaged, changed, 0) { Skipped = skipped };
        _changes = changed;
        if (changed > 0) ScheduleCache(force: true);
        else _cachedAt = _changes;
    }

    /// <summary>The cache's vector (the index's float64 form of the stored float32 one; cosine re-normalised) matches.</summary>
    private static bool Same(float[] stored, double[] cached)
    {
        if (stored.Length != cached.Length) return false;
        for (int i = 0; i < stored.Length; i++)
            if (Math.Abs(stored[i] - cached[i]) > 1e-6 * Math.Max(1.0, Math.Abs(cached[i]))) return false;
        return true;
    }

    private static double[] Widen(ReadOnlySpan<float> v)
    {
        var d = new double[v.Length];
        for (int i = 0; i < d.Length; i++) d[i] = v[i];
        return d;
    }

    private static (IndexSnapshot.Image? Image, string? Used) ReadNewestCache(string folder)
    {
        foreach (var name in new[] { GraphCacheFile, GraphCacheFile + ".prev" })
        {
            var p = Path.Combine(folder, name);
            if (!File.Exists(p)) continue;
            try { return (IndexSnapshot.Read(p), name); }
            catch (InvalidDataException) { }
        }
        return (null, null);
    }

    /// <summary>
    /// The float32 form the store keeps (cosine: the unit vector), checked as the index checks vectors. A Poincaré
    /// point so close to the rim that float32 rounds it onto or past it is refused (nothing is logged).
    /// </summary>
    private float[] Canonical(ReadOnlySpan<double> vector)
    {
        var store = _state.Store;
        var q = store.Prepare(vector);
        if (q.F != null) return (float[])q.F.Clone();
        var f = new float[vector.Length];
        for (int i = 0; i < f.Length; i++) f[i] = (float)vector[i];
        try { store.Prepare(Widen(f)); }
        catch (ArgumentException e) { throw new ArgumentException($"the embedding is too close to the Poincaré ball's rim to keep as float32: {e.Message}", e); }
        return f;
    }

    private void UpsertOnStore(string name, ReadOnlySpan<double> vector, string[] tags)
    {
        var f = Canonical(vector);                       // every check before anything is logged
        ulong seq = _backing!.Describe(name, tags, f);    // durable; KeyNotFoundException for an unknown adapter
        using var s = Write();
        if (Stale(name, seq)) return;
        var d = Widen(f);
        ApplyUpsert(name, _state.Store.Prepare(d), d, tags);
        ScheduleCache(force: false);
    }

    private bool RemoveOnStore(string name)
    {
        if (!Contains(name)) return false;
        ulong seq;
        try { seq = _backing!.Describe(name, _backing.Description(name).Tags, ReadOnlySpan<float>.Empty); }
        catch (KeyNotFoundException) { return true; } // the adapter went meanwhile, and its embedding with it (Dropped)
        Forget(name, seq);
        return true;
    }

    private void OnDropped(string name, ulong seq)
    {
        try { Forget(name, seq); }
        catch (ObjectDisposedException) { }
    }

    /// <summary>Removes an embedding the store no longer holds (as of record <paramref name="seq"/>).</summary>
    private void Forget(string name, ulong seq)
    {
        using var s = Write();
        if (Stale(name, seq)) return;
        if (ApplyRemove(name)) ScheduleCache(force: false);
    }

    private bool Stale(string name, ulong seq)
    {
        if (_appliedSeq.TryGetValue(name, out var last) && last >= seq) return true;
        _appliedSeq[name] = seq;
        return false;
    }

    // ---- the index's two files ----

    private void WriteSettings()
    {
        var p = _parameters;
        var json = new JsonObject
        {
            ["metric"] = Metric.Name(), ["dimensions"] = Dimensions, ["M"] = p.M, ["efConstruction"] = p.EfConstruction,
            ["efSearch"] = p.EfSearch, ["int8"] = p.QuantizeInt8, ["seed"] = p.Seed, ["compactWhenDeleted"] = p.CompactWhenDeleted,
        };
        AtomicFile.Write(Path.Combine(_dir!, SettingsFile), JsonSerializer.SerializeToUtf8Bytes(json));
    }

    private static (DistanceMetric, int, HnswParameters)? ReadSettings(string folder)
    {
        var path = Path.Combine(folder, SettingsFile);
        if (!File.Exists(path)) return null;
        try
        {
            var o = JsonNode.Parse(File.ReadAllBytes(path))!.AsObject();
            var metric = DistanceMetrics.Parse((string)o["metric"]!);
            int dim = (int)o["dimensions"]!;
            if (dim <= 0 || dim > 65536) throw new InvalidDataException($"dimensions {dim}");
            var p = new HnswParameters
            {
                M = (int)o["M"]!, EfConstruction = (int)o["efConstruction"]!, EfSearch = (int)o["efSearch"]!, QuantizeInt8 = (bool)o["int8"]!,
                Seed = (int)o["seed"]!, CompactWhenDeleted = (double)o["compactWhenDeleted"]!,
            };
            p.Validate(metric);
            return (metric, dim, p);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException or FormatException or ArgumentException or InvalidDataException)
        {
            throw new InvalidDataException($"{path} is damaged ({e.Message}); delete it to rebuild the index as cosine from the store's embeddings, or restore it", e);
        }
    }

    /// <summary>Under the write lock: writes the graph cache in the background after enough changes (or now, when forced).</summary>
    private void ScheduleCache(bool force)
    {
        if (_disposed || (!force && _changes - Interlocked.Read(ref _cachedAt) < SnapshotEvery)) return;
        if (_cacheTask is { IsCompleted: false }) return;
        _cacheTask = Task.Run(() =>
        {
            try { WriteCache(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException) { } // a cache: the next write tries again
        });
    }

    /// <summary>Writes the graph cache: the image is taken under the read lock, the file written outside it.</summary>
    private void WriteCache()
    {
        IndexSnapshot.Image image;
        long at;
        using (Read())
        {
            image = Image();
            at = _changes;
        }
        WriteCacheFile(image);
        Interlocked.Exchange(ref _cachedAt, at);
    }

    private void TryWriteCacheLocked()
    {
        try
        {
            WriteCacheFile(Image());
            _cachedAt = _changes;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    private readonly object _cacheFileGate = new();

    private void WriteCacheFile(IndexSnapshot.Image image)
    {
        lock (_cacheFileGate)
        {
            var path = Path.Combine(_dir!, GraphCacheFile);
            var temp = path + ".new";
            IndexSnapshot.Write(temp, image);
            if (File.Exists(path)) File.Move(path, path + ".prev", overwrite: true);
            File.Move(temp, path);
        }
    }
}

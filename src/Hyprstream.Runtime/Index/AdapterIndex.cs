namespace Hyprstream.Runtime.Index;

/// <summary>
/// Nearest-adapter search for routing: an HNSW graph over adapter embeddings (L2, cosine or the Poincaré ball),
/// with tag/tenant filters applied during the walk. With a directory, every upsert/remove is logged and fsynced
/// before it is applied, and snapshots (with the previous one kept) make restarts fast. Searches run concurrently;
/// writers take the index alone.
/// </summary>
public sealed class AdapterIndex : IDisposable
{
    public const string SnapshotFile = "index.snapshot";
    public const string LogFile = "index.wal";
    private const int SnapshotEvery = 1000;

    private readonly ReaderWriterLockSlim _lock = new();
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly List<string?> _names = new();
    private readonly List<HashSet<string>> _tags = new();
    private VectorStore _store;
    private HnswGraph _graph;
    private HnswParameters _parameters;
    private readonly string? _dir;
    private IndexLog? _log;
    private ulong _seq;
    private bool _disposed;

    private AdapterIndex(int dim, DistanceMetric metric, HnswParameters parameters, string? dir)
    {
        parameters.Validate(metric);
        Metric = metric;
        _parameters = parameters;
        _store = new VectorStore(dim, metric, parameters.QuantizeInt8);
        _graph = new HnswGraph(_store, parameters.M, parameters.EfConstruction, parameters.Seed);
        _dir = dir;
    }

    public DistanceMetric Metric { get; }
    public int Dimensions => _store.Dim;
    public int Count { get { using var s = Read(); return _graph.LiveCount; } }

    /// <summary>What opening the index found: which snapshot, how much log was replayed or dropped.</summary>
    public IndexRecovery Recovery { get; private set; } = new(null, false, 0, 0);

    /// <summary>An index held in memory only.</summary>
    public static AdapterIndex CreateInMemory(int dimensions, DistanceMetric metric, HnswParameters? parameters = null) =>
        new(dimensions, metric, parameters ?? new HnswParameters(), null);

    /// <summary>Opens the index in <paramref name="directory"/>, creating it with these settings when it has none.</summary>
    public static AdapterIndex Open(string directory, int dimensions, DistanceMetric metric, HnswParameters? parameters = null)
    {
        Directory.CreateDirectory(directory);
        if (HasData(directory)) return Open(directory);
        var index = new AdapterIndex(dimensions, metric, parameters ?? new HnswParameters(), directory);
        index.WriteSnapshot();
        index._log = IndexLog.OpenForAppend(Path.Combine(directory, LogFile));
        return index;
    }

    /// <summary>Opens an existing index: newest intact snapshot, then the logs written since.</summary>
    public static AdapterIndex Open(string directory)
    {
        if (!HasData(directory)) throw new DirectoryNotFoundException($"'{directory}' holds no adapter index ({SnapshotFile})");
        IndexSnapshot.Image? image = null;
        string? used = null;
        var errors = new List<string>();
        foreach (var name in new[] { SnapshotFile, SnapshotFile + ".prev" })
        {
            var p = Path.Combine(directory, name);
            if (!File.Exists(p)) continue;
            try { image = IndexSnapshot.Read(p); used = name; break; }
            catch (InvalidDataException e) { errors.Add(e.Message); }
        }
        if (image == null) throw new InvalidDataException($"no intact index snapshot in '{directory}': {string.Join("; ", errors)}");

        var index = new AdapterIndex(image.Dim, image.Metric, image.Parameters, directory);
        index.Load(image);
        long replayed = 0, dropped = 0;
        foreach (var log in new[] { LogFile + ".prev", LogFile })
        {
            var (records, cut) = IndexLog.Replay(Path.Combine(directory, log));
            dropped += cut;
            foreach (var r in records)
            {
                if (r.Seq <= index._seq) continue;  // already in the snapshot
                if (r.Kind == IndexLog.Op.Upsert) index.ApplyUpsert(r.Name, index._store.Prepare(r.Vector), r.Tags);
                else index.ApplyRemove(r.Name);
                index._seq = r.Seq;
                replayed++;
            }
        }
        index.Recovery = new IndexRecovery(used, image.GraphDamaged, replayed, dropped);
        index._log = IndexLog.OpenForAppend(Path.Combine(directory, LogFile));
        return index;
    }

    /// <summary>True when <paramref name="dir"/> holds an index (its snapshot, or the previous one).</summary>
    public static bool HasData(string dir) =>
        File.Exists(Path.Combine(dir, SnapshotFile)) || File.Exists(Path.Combine(dir, SnapshotFile + ".prev"));

    private void Load(IndexSnapshot.Image image)
    {
        _seq = image.LastSeq;
        foreach (var e in image.Entries) AddName(e.Name, e.Tags);
        if (!image.GraphDamaged)
        {
            try
            {
                foreach (var e in image.Entries) _store.Add(_store.Prepare(e.Vector));
                _graph.Restore(image.Levels!, image.Links!, image.Entry0);
                return;
            }
            catch (Exception ex) when (ex is InvalidDataException or ArgumentException)
            {
                _store = new VectorStore(_store.Dim, Metric, _parameters.QuantizeInt8);
                _graph = new HnswGraph(_store, _parameters.M, _parameters.EfConstruction, _parameters.Seed);
            }
        }
        // The graph section is damaged: rebuild it from the entries, with their original levels.
        foreach (var e in image.Entries) _graph.InsertAt(_store.Prepare(e.Vector), e.Level);
    }

    // ---- writes ----

    public void Upsert(string name, ReadOnlySpan<float> vector, IEnumerable<string>? tags = null)
    {
        var v = new double[vector.Length];
        for (int i = 0; i < v.Length; i++) v[i] = vector[i];
        Upsert(name, v, tags);
    }

    /// <summary>Adds or replaces an adapter's embedding (and tags). Logged and fsynced before it is applied.</summary>
    public void Upsert(string name, ReadOnlySpan<double> vector, IEnumerable<string>? tags = null)
    {
        AdapterNames.ValidateAdapter(name);
        var tagArray = (tags ?? []).ToArray();
        foreach (var t in tagArray)
            if (string.IsNullOrEmpty(t) || t.Any(char.IsControl)) throw new ArgumentException($"tag '{t}' is empty or has control characters");
        var copy = vector.ToArray();
        using var s = Write();
        var q = _store.Prepare(copy);  // validates before anything is logged
        Log(IndexLog.Op.Upsert, name, tagArray, copy);
        ApplyUpsert(name, q, tagArray);
        MaybeSnapshot();
    }

    /// <summary>Removes an adapter; false when the index does not hold it.</summary>
    public bool Remove(string name)
    {
        using var s = Write();
        if (!_ids.ContainsKey(name)) return false;
        Log(IndexLog.Op.Remove, name, [], []);
        ApplyRemove(name);
        MaybeSnapshot();
        return true;
    }

    private void Log(IndexLog.Op op, string name, string[] tags, double[] vector)
    {
        if (_log == null) { _seq++; return; }
        _log.Append(new IndexLog.Record(_seq + 1, op, name, tags, vector));
        _seq++;
    }

    private void ApplyUpsert(string name, in VectorStore.Query q, string[] tags)
    {
        if (_ids.TryGetValue(name, out var old)) ApplyRemove(name);
        int id = _graph.Insert(q);
        if (id != _names.Count) throw new InvalidOperationException("index ids out of step");
        AddName(name, tags);
    }

    private void AddName(string name, string[] tags)
    {
        _ids[name] = _names.Count;
        _names.Add(name);
        _tags.Add(new HashSet<string>(tags, StringComparer.Ordinal));
    }

    private void ApplyRemove(string name)
    {
        if (!_ids.Remove(name, out var id)) return;
        _graph.Delete(id);
        _names[id] = null;
    }

    private void MaybeSnapshot()
    {
        if (_log != null && _log.Records >= SnapshotEvery) SnapshotLocked();
    }

    /// <summary>Writes a snapshot now (the previous one and the log since it are kept as *.prev) and starts a new log.</summary>
    public void Snapshot()
    {
        using var s = Write();
        SnapshotLocked();
    }

    private void SnapshotLocked()
    {
        if (_dir == null) return;
        WriteSnapshot();
        _log?.Dispose();
        var log = Path.Combine(_dir, LogFile);
        if (File.Exists(log)) File.Move(log, log + ".prev", overwrite: true);
        _log = IndexLog.OpenForAppend(log);
    }

    private void WriteSnapshot()
    {
        var path = Path.Combine(_dir!, SnapshotFile);
        var (live, levels, links, entry) = _graph.Compact();
        var entries = live.Select((id, i) => new IndexSnapshot.Entry(_names[id]!, _tags[id].ToArray(), levels[i], _store.Vector(id))).ToList();
        var image = new IndexSnapshot.Image(Metric, _store.Dim, _parameters, _seq, entries, levels, links, entry, false);
        var temp = path + ".new";
        IndexSnapshot.Write(temp, image);
        if (File.Exists(path)) File.Move(path, path + ".prev", overwrite: true);
        File.Move(temp, path);
    }

    // ---- reads ----

    /// <summary>The k nearest adapters to <paramref name="query"/>, nearest first, that pass the filter.</summary>
    public IReadOnlyList<IndexHit> Search(ReadOnlySpan<double> query, int k, IndexFilter? filter = null, int? ef = null)
    {
        if (k <= 0) throw new ArgumentOutOfRangeException(nameof(k), k, "k must be positive");
        if (ef is <= 0) throw new ArgumentOutOfRangeException(nameof(ef), ef, "ef must be positive");
        using var s = Read();
        var q = _store.Prepare(query);
        Func<int, bool>? allow = filter == null ? null : id => filter.Matches(_tags[id]);
        var found = _graph.Search(q, k, ef ?? _parameters.EfSearch, allow);
        return found.Select(f => new IndexHit(_names[f.Id]!, _store.Report(f.Dist))).ToList();
    }

    public IReadOnlyList<IndexHit> Search(ReadOnlySpan<float> query, int k, IndexFilter? filter = null, int? ef = null)
    {
        var v = new double[query.Length];
        for (int i = 0; i < v.Length; i++) v[i] = query[i];
        return Search(v, k, filter, ef);
    }

    /// <summary>Exact k-NN by scanning every vector: the ground truth the tests and benchmark compare against.</summary>
    public IReadOnlyList<IndexHit> SearchExact(ReadOnlySpan<double> query, int k, IndexFilter? filter = null)
    {
        using var s = Read();
        var q = _store.Prepare(query);
        var all = new List<(int Id, double Dist)>();
        for (int id = 0; id < _names.Count; id++)
            if (_names[id] != null && (filter == null || filter.Matches(_tags[id]))) all.Add((id, _store.Exact(q, id)));
        return all.OrderBy(a => a.Dist).ThenBy(a => a.Id).Take(k).Select(a => new IndexHit(_names[a.Id]!, _store.Report(a.Dist))).ToList();
    }

    /// <summary>Every adapter with its stored vector (normalised for cosine) and tags.</summary>
    public IReadOnlyList<(string Adapter, double[] Vector, IReadOnlyCollection<string> Tags)> Entries()
    {
        using var s = Read();
        return Enumerable.Range(0, _names.Count).Where(i => _names[i] != null)
            .Select(i => (_names[i]!, _store.Vector(i), (IReadOnlyCollection<string>)_tags[i].ToArray())).ToList();
    }

    public bool Contains(string name) { using var s = Read(); return _ids.ContainsKey(name); }

    /// <summary>efSearch and efConstruction change at once; a new M rebuilds the graph from the stored vectors.</summary>
    public HnswParameters Parameters
    {
        get => _parameters;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            value.Validate(Metric);
            using var s = Write();
            bool rebuild = value.M != _parameters.M || value.QuantizeInt8 != _parameters.QuantizeInt8;
            _parameters = value;
            _graph.EfConstruction = value.EfConstruction;
            if (rebuild) RebuildLocked();
            if (_dir != null) SnapshotLocked();
        }
    }

    private void RebuildLocked()
    {
        var live = Enumerable.Range(0, _names.Count).Where(i => _names[i] != null).ToList();
        var vectors = live.Select(i => _store.Vector(i)).ToList();
        var names = live.Select(i => _names[i]!).ToList();
        var tags = live.Select(i => _tags[i].ToArray()).ToList();
        _store = new VectorStore(_store.Dim, Metric, _parameters.QuantizeInt8);
        _graph = new HnswGraph(_store, _parameters.M, _parameters.EfConstruction, _parameters.Seed);
        _ids.Clear(); _names.Clear(); _tags.Clear();
        for (int i = 0; i < live.Count; i++)
        {
            _graph.Insert(_store.Prepare(vectors[i]));
            AddName(names[i], tags[i]);
        }
    }

    public IndexStats Stats()
    {
        using var s = Read();
        var (hot, exact) = _store.Bytes();
        return new IndexStats(Metric, _store.Dim, _graph.LiveCount, _graph.Count - _graph.LiveCount, _parameters.M, _parameters.EfConstruction,
            _parameters.EfSearch, _parameters.QuantizeInt8, hot, exact, _graph.LinkBytes(),
            _graph.Entry >= 0 ? _graph.Level(_graph.Entry) : -1, _log?.Records ?? 0, _dir);
    }

    public void Dispose()
    {
        _lock.EnterWriteLock();
        try
        {
            if (_disposed) return;
            _disposed = true;
            _log?.Dispose();
        }
        finally { _lock.ExitWriteLock(); }
    }

    private Scope Read() { _lock.EnterReadLock(); return Check(new Scope(_lock, false)); }
    private Scope Write() { _lock.EnterWriteLock(); return Check(new Scope(_lock, true)); }

    private Scope Check(Scope s)
    {
        if (_disposed) { s.Dispose(); throw new ObjectDisposedException(nameof(AdapterIndex)); }
        return s;
    }

    private readonly struct Scope(ReaderWriterLockSlim l, bool write) : IDisposable
    {
        public void Dispose() { if (write) l.ExitWriteLock(); else l.ExitReadLock(); }
    }
}

using Hyprstream.Runtime.Store;

namespace Hyprstream.Runtime.Index;

/// <summary>
/// Nearest-adapter search for routing: an HNSW graph over adapter embeddings (L2, cosine or the Poincaré ball),
/// with tag/tenant filters applied during the walk. Three homes:
///   in memory           <see cref="CreateInMemory"/>: nothing is kept;
///   on an adapter store <see cref="OpenOnStore"/>: each embedding is the adapter's description in the store (its
///                       write-ahead log and checkpoints), so it is recovered, replicated and deleted with the adapter;
///                       the graph file in the index folder is only a cache, reconciled with the store on open;
///   in a directory      <see cref="Open(string)"/> (the standalone `hyprstream index` files): its own log + snapshots.
/// Searches run concurrently; writers take the index alone. Tombstones left by removals are reclaimed by a
/// background compaction, and a new M is built in the background while the old graph keeps serving.
/// </summary>
public sealed partial class AdapterIndex : IDisposable
{
    public const string SnapshotFile = "index.snapshot";
    public const string LogFile = "index.wal";
    private const int SnapshotEvery = 1000;

    private readonly ReaderWriterLockSlim _lock = new();
    private IndexState _state;
    private HnswParameters _parameters;
    private readonly string? _dir;
    private IndexLog? _log;
    private ulong _seq;
    private volatile bool _disposed;

    private AdapterIndex(int dim, DistanceMetric metric, HnswParameters parameters, string? dir)
    {
        parameters.Validate(metric);
        Metric = metric;
        _parameters = parameters;
        _state = new IndexState(dim, metric, parameters);
        _dir = dir;
    }

    public DistanceMetric Metric { get; }
    public int Dimensions => _state.Dim;
    public int Count { get { using var s = Read(); return _state.Graph.LiveCount; } }

    /// <summary>What opening the index found: which snapshot, how much log was replayed or dropped.</summary>
    public IndexRecovery Recovery { get; private set; } = new(null, false, 0, 0);

    /// <summary>An index held in memory only.</summary>
    public static AdapterIndex CreateInMemory(int dimensions, DistanceMetric metric, HnswParameters? parameters = null) =>
        new(dimensions, metric, parameters ?? new HnswParameters(), null);

    /// <summary>An index held in memory, built from <paramref name="entries"/> on <paramref name="threads"/> threads
    /// (hnswlib-style parallel insertion with per-node locks).</summary>
    public static AdapterIndex BuildInMemory(int dimensions, DistanceMetric metric, HnswParameters? parameters,
        IReadOnlyList<(string Name, double[] Vector)> entries, int threads)
    {
        if (threads <= 0) throw new ArgumentOutOfRangeException(nameof(threads), threads, "threads must be positive");
        var index = CreateInMemory(dimensions, metric, parameters);
        foreach (var (name, _) in entries) AdapterNames.ValidateAdapter(name);
        if (entries.Select(e => e.Name).Distinct(StringComparer.Ordinal).Count() != entries.Count) throw new ArgumentException("entry names must be distinct");
        index._state.AddMany(entries.Select(e => (e.Name, Array.Empty<string>(), e.Vector)).ToList(), threads);
        return index;
    }

    /// <summary>Opens the standalone index in <paramref name="directory"/>, creating it with these settings when it has none.</summary>
    public static AdapterIndex Open(string directory, int dimensions, DistanceMetric metric, HnswParameters? parameters = null)
    {
        Directory.CreateDirectory(directory);
        if (HasData(directory)) return Open(directory);
        var index = new AdapterIndex(dimensions, metric, parameters ?? new HnswParameters(), directory);
        index.WriteSnapshot();
        index._log = IndexLog.OpenForAppend(Path.Combine(directory, LogFile));
        return index;
    }

    /// <summary>Opens an existing standalone index: newest intact snapshot, then the logs written since.</summary>
    public static AdapterIndex Open(string directory)
    {
        if (!HasData(directory)) throw new DirectoryNotFoundException($"'{directory}' holds no adapter index ({SnapshotFile})");
        var (image, used) = ReadNewestSnapshot(directory);
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
                if (r.Kind == IndexLog.Op.Upsert) index._state.Upsert(r.Name, index._state.Store.Prepare(r.Vector), r.Tags);
                else index._state.Remove(r.Name);
                index._seq = r.Seq;
                replayed++;
            }
        }
        index.Recovery = new IndexRecovery(used, image.GraphDamaged, replayed, dropped);
        index._log = IndexLog.OpenForAppend(Path.Combine(directory, LogFile));
        return index;
    }

    /// <summary>The newest intact snapshot in <paramref name="directory"/> (the current one, else *.prev).</summary>
    private static (IndexSnapshot.Image Image, string Used) ReadNewestSnapshot(string directory)
    {
        var errors = new List<string>();
        foreach (var name in new[] { SnapshotFile, SnapshotFile + ".prev" })
        {
            var p = Path.Combine(directory, name);
            if (!File.Exists(p)) continue;
            try { return (IndexSnapshot.Read(p), name); }
            catch (InvalidDataException e) { errors.Add(e.Message); }
        }
        throw new InvalidDataException($"no intact index snapshot in '{directory}': {string.Join("; ", errors)}");
    }

    /// <summary>True when <paramref name="dir"/> holds a standalone index (its snapshot, or the previous one).</summary>
    public static bool HasData(string dir) =>
        File.Exists(Path.Combine(dir, SnapshotFile)) || File.Exists(Path.Combine(dir, SnapshotFile + ".prev"));

    private void Load(IndexSnapshot.Image image)
    {
        _seq = image.LastSeq;
        var st = _state;
        foreach (var e in image.Entries) st.AddName(e.Name, e.Tags);
        if (!image.GraphDamaged)
        {
            try
            {
                foreach (var e in image.Entries) st.Store.Add(st.Store.Prepare(e.Vector));
                st.Graph.Restore(image.Levels!, image.Links!, image.Entry0);
                return;
            }
            catch (Exception ex) when (ex is InvalidDataException or ArgumentException)
            {
                st = _state = new IndexState(st.Dim, Metric, _parameters);
                foreach (var e in image.Entries) st.AddName(e.Name, e.Tags);
            }
        }
        // The graph section is damaged: rebuild it from the entries, with their original levels.
        foreach (var e in image.Entries) st.Graph.InsertAt(st.Store.Prepare(e.Vector), e.Level);
    }

    // ---- writes ----

    public void Upsert(string name, ReadOnlySpan<float> vector, IEnumerable<string>? tags = null)
    {
        var v = new double[vector.Length];
        for (int i = 0; i < v.Length; i++) v[i] = vector[i];
        Upsert(name, v, tags);
    }

    /// <summary>
    /// Adds or replaces an adapter's embedding (and tags), durably before it is applied: on a store as the
    /// adapter's description (the adapter must exist there: KeyNotFoundException), standalone in the index's log.
    /// </summary>
    public void Upsert(string name, ReadOnlySpan<double> vector, IEnumerable<string>? tags = null)
    {
        AdapterNames.ValidateAdapter(name);
        var tagArray = (tags ?? []).ToArray();
        foreach (var t in tagArray)
            if (string.IsNullOrEmpty(t) || t.Any(char.IsControl)) throw new ArgumentException($"tag '{t}' is empty or has control characters");
        if (_backing != null)
        {
            UpsertOnStore(name, vector, tagArray);
            return;
        }
        var copy = vector.ToArray();
        using var s = Write();
        var q = _state.Store.Prepare(copy);  // validates before anything is logged
        Log(IndexLog.Op.Upsert, name, tagArray, copy);
        ApplyUpsert(name, q, copy, tagArray);
        MaybeSnapshot();
    }

    /// <summary>Removes an adapter's embedding; false when the index does not hold it.</summary>
    public bool Remove(string name)
    {
        if (_backing != null) return RemoveOnStore(name);
        using var s = Write();
        if (!_state.Ids.ContainsKey(name)) return false;
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

    /// <summary>Applies an upsert (under the write lock) and records it for a rebuild in progress.</summary>
    private void ApplyUpsert(string name, in VectorStore.Query q, double[] vector, string[] tags)
    {
        _state.Upsert(name, q, tags);
        _journal?.Add(new Change(name, vector, tags));
        _changes++;
        MaybeCompact();
    }

    private bool ApplyRemove(string name)
    {
        if (!_state.Remove(name)) return false;
        _journal?.Add(new Change(name, null, []));
        _changes++;
        MaybeCompact();
        return true;
    }

    private void MaybeSnapshot()
    {
        if (_log != null && _log.Records >= SnapshotEvery) SnapshotLocked();
    }

    /// <summary>Writes a snapshot now (standalone: the previous one and the log since it are kept as *.prev and a
    /// new log starts; on a store: the graph cache).</summary>
    public void Snapshot()
    {
        if (_backing != null) { WriteCache(); return; }
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
        var temp = path + ".new";
        IndexSnapshot.Write(temp, Image());
        if (File.Exists(path)) File.Move(path, path + ".prev", overwrite: true);
        File.Move(temp, path);
    }

    /// <summary>The current generation as a snapshot image (under a lock held by the caller).</summary>
    private IndexSnapshot.Image Image()
    {
        var st = _state;
        var (live, levels, links, entry) = st.Graph.Compact();
        var entries = new List<IndexSnapshot.Entry>(live.Length);
        for (int i = 0; i < live.Length; i++)
            entries.Add(new IndexSnapshot.Entry(st.Names[live[i]]!, st.Tags[live[i]].ToArray(), levels[i], st.Store.Vector(live[i])));
        return new IndexSnapshot.Image(Metric, st.Dim, _parameters, _seq, entries, levels, links, entry, false);
    }

    // ---- reads ----

    /// <summary>The k nearest adapters to <paramref name="query"/>, nearest first, that pass the filter.</summary>
    public IReadOnlyList<IndexHit> Search(ReadOnlySpan<double> query, int k, IndexFilter? filter = null, int? ef = null)
    {
        if (k <= 0) throw new ArgumentOutOfRangeException(nameof(k), k, "k must be positive");
        if (ef is <= 0) throw new ArgumentOutOfRangeException(nameof(ef), ef, "ef must be positive");
        using var s = Read();
        var st = _state;
        var q = st.Store.Prepare(query);
        Func<int, bool>? allow = filter == null ? null : id => filter.Matches(st.Tags[id]);
        return Hits(st, st.Graph.Search(q, k, ef ?? _parameters.EfSearch, allow));
    }

    public IReadOnlyList<IndexHit> Search(ReadOnlySpan<float> query, int k, IndexFilter? filter = null, int? ef = null)
    {
        var v = new double[query.Length];
        for (int i = 0; i < v.Length; i++) v[i] = query[i];
        return Search(v, k, filter, ef);
    }

    /// <summary>
    /// The k nearest adapters to each query (no filter), under one read lock, spread over <paramref name="threads"/>
    /// threads: the batch form of <see cref="Search(ReadOnlySpan{double}, int, IndexFilter?, int?)"/>.
    /// </summary>
    public IReadOnlyList<IndexHit>[] SearchBatch(IReadOnlyList<double[]> queries, int k, int? ef = null, int threads = 1)
    {
        if (k <= 0) throw new ArgumentOutOfRangeException(nameof(k), k, "k must be positive");
        if (ef is <= 0) throw new ArgumentOutOfRangeException(nameof(ef), ef, "ef must be positive");
        if (threads <= 0) throw new ArgumentOutOfRangeException(nameof(threads), threads, "threads must be positive");
        using var s = Read();
        var st = _state;
        var prepared = new VectorStore.Query[queries.Count];
        for (int i = 0; i < prepared.Length; i++) prepared[i] = st.Store.Prepare(queries[i]); // all checked before any search
        var results = new IReadOnlyList<IndexHit>[prepared.Length];
        int e = ef ?? _parameters.EfSearch;
        void One(int i) => results[i] = Hits(st, st.Graph.Search(prepared[i], k, e, null));
        if (threads == 1) for (int i = 0; i < prepared.Length; i++) One(i);
        else Parallel.For(0, prepared.Length, new ParallelOptions { MaxDegreeOfParallelism = threads }, One);
        return results;
    }

    private static IndexHit[] Hits(IndexState st, List<(int Id, double Dist)> found)
    {
        var hits = new IndexHit[found.Count];
        for (int i = 0; i < hits.Length; i++) hits[i] = new IndexHit(st.Names[found[i].Id]!, st.Store.Report(found[i].Dist));
        return hits;
    }

    /// <summary>Exact k-NN by scanning every vector: the ground truth the tests and benchmark compare against.</summary>
    public IReadOnlyList<IndexHit> SearchExact(ReadOnlySpan<double> query, int k, IndexFilter? filter = null)
    {
        using var s = Read();
        var st = _state;
        var q = st.Store.Prepare(query);
        var all = new List<(int Id, double Dist)>();
        for (int id = 0; id < st.Names.Count; id++)
            if (st.Names[id] != null && (filter == null || filter.Matches(st.Tags[id]))) all.Add((id, st.Store.Exact(q, id)));
        return all.OrderBy(a => a.Dist).ThenBy(a => a.Id).Take(k).Select(a => new IndexHit(st.Names[a.Id]!, st.Store.Report(a.Dist))).ToList();
    }

    /// <summary>Every adapter with its stored vector (normalised for cosine) and tags.</summary>
    public IReadOnlyList<(string Adapter, double[] Vector, IReadOnlyCollection<string> Tags)> Entries()
    {
        using var s = Read();
        return _state.Live().Select(e => (e.Name, e.Vector, (IReadOnlyCollection<string>)e.Tags)).ToList();
    }

    public bool Contains(string name) { using var s = Read(); return _state.Ids.ContainsKey(name); }

    /// <summary>
    /// efSearch and efConstruction change at once; a new M (or int8 setting) rebuilds the graph in the background
    /// while the old one keeps serving (<see cref="WaitForRebuild"/> waits for it).
    /// </summary>
    public HnswParameters Parameters
    {
        get { using var s = Read(); return _parameters; }
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            value.Validate(Metric);
            using var s = Write();
            bool rebuild = value.M != _parameters.M || value.QuantizeInt8 != _parameters.QuantizeInt8;
            _parameters = value;
            _state.Graph.EfConstruction = value.EfConstruction;
            if (_backing != null) WriteSettings();
            if (rebuild) StartRebuild();
            else if (_dir != null && _backing == null) SnapshotLocked();
        }
    }

    public IndexStats Stats()
    {
        using var s = Read();
        var st = _state;
        var (hot, exact) = st.Store.Bytes();
        return new IndexStats(Metric, st.Dim, st.Graph.LiveCount, st.Deleted, _parameters.M, _parameters.EfConstruction,
            _parameters.EfSearch, _parameters.QuantizeInt8, hot, exact, st.Graph.LinkBytes(),
            st.Graph.Entry >= 0 ? st.Graph.Level(st.Graph.Entry) : -1, _log?.Records ?? 0, _dir)
        {
            Rebuilding = _journal != null,
            Rebuilds = _rebuilds,
            Compactions = _compactions,
            Home = _backing != null ? "store" : _dir != null ? "directory" : "memory",
        };
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true; // a running rebuild sees it and stops
        try { _rebuildTask?.Wait(TimeSpan.FromSeconds(30)); } catch (AggregateException) { }
        try { _cacheTask?.Wait(TimeSpan.FromSeconds(30)); } catch (AggregateException) { }
        _lock.EnterWriteLock();
        try
        {
            if (_backing != null) _backing.Dropped -= OnDropped;
            if (_backing != null && _changes != _cachedAt) TryWriteCacheLocked();
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

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Hyprstream.Runtime.Index;

/// <summary>
/// A hierarchical navigable small-world graph (Malkov &amp; Yashunin) over a <see cref="VectorStore"/>: insert with the
/// neighbour-selection heuristic, k-NN search with a per-query ef and a filter applied while walking, and deletion
/// by tombstone plus repair of the neighbours' links. Not thread-safe for writers: <see cref="AdapterIndex"/>
/// serialises them; searches run concurrently, each with its thread's <see cref="SearchContext"/>.
/// The query path (search → walk → heaps) allocates nothing but the result list, uses no LINQ and no delegates
/// besides the caller's filter, and prefetches each neighbour's vector one step ahead, as hnswlib does.
/// </summary>
internal sealed class HnswGraph
{
    private readonly VectorStore _store;
    private readonly Random _rng;
    private readonly double _levelMult;
    private int[] _links0 = [];              // per node: [count, n1 … n(2M)]
    private int[]?[] _upper = [];            // per node with level > 0: levels × [count, n1 … nM]
    private int[] _level = [];
    private bool[] _deleted = [];
    private int _entry = -1;
    private int _maxLevel = -1;
    // Parallel inserts (InsertMany): link lists are read and written under striped per-node locks, and a node that
    // rises above the top level holds the entry lock while it links (hnswlib's scheme). Off for everything else.
    private bool _concurrent;
    // Poincaré neighbourhoods near the rim are thin: there the free link slots also take the closest pruned
    // candidates, as every metric did before (the 100k×16 ball without it: recall 0.892 at ef 40, against 0.961
    // with it in the earlier release's run). L2/cosine use hnswlib's plain heuristic: filling doubled the links
    // followed per hop for little recall.
    private readonly bool _fillLinks;
    private readonly object[] _nodeLocks = Enumerable.Range(0, 4096).Select(_ => new object()).ToArray();
    private readonly object _entryLock = new();
    private object LockOf(int id) => _nodeLocks[id & 4095];

    public HnswGraph(VectorStore store, int m, int efConstruction, int seed)
    {
        _store = store;
        M = m;
        M0 = 2 * m;
        EfConstruction = efConstruction;
        _rng = new Random(seed);
        _levelMult = 1.0 / Math.Log(m);
        _fillLinks = store.Metric == DistanceMetric.Poincare;
    }

    public int M { get; }
    public int M0 { get; }
    public int EfConstruction { get; set; }
    public int Count => _store.Count;
    public int LiveCount { get; private set; }
    public bool IsDeleted(int id) => _deleted[id];
    public int Level(int id) => _level[id];
    public int Entry => _entry;

    public long LinkBytes()
    {
        long bytes = (long)_links0.Length * 4 + _level.Length * 5L;
        foreach (var u in _upper) if (u != null) bytes += u.Length * 4L;
        return bytes;
    }

    // ---- links ----

    private Span<int> Links(int id, int level) => level == 0
        ? _links0.AsSpan(id * (M0 + 1), M0 + 1)
        : _upper[id].AsSpan((level - 1) * (M + 1), M + 1);

    private int Capacity(int level) => level == 0 ? M0 : M;

    private void Grow(int need)
    {
        if (need <= _level.Length) return;
        int n = Math.Max(need, Math.Max(16, _level.Length * 2));
        Array.Resize(ref _links0, n * (M0 + 1));
        Array.Resize(ref _upper, n);
        Array.Resize(ref _level, n);
        Array.Resize(ref _deleted, n);
    }

    // ---- insert ----

    public int Insert(in VectorStore.Query q) => InsertAt(q, RandomLevel());

    /// <summary>Inserts with a given level (used when a snapshot rebuilds a graph with its original levels).</summary>
    public int InsertAt(in VectorStore.Query q, int level)
    {
        int id = _store.Add(q);
        Grow(id + 1);
        _level[id] = level;
        _upper[id] = level > 0 ? new int[level * (M + 1)] : null;
        LiveCount++;
        if (_entry < 0)
        {
            _entry = id;
            _maxLevel = level;
            return id;
        }
        var op = new InsertOp(this, id, level, _entry, _maxLevel);
        _store.WithNode(id, ref op);
        if (level > _maxLevel)
        {
            _maxLevel = level;
            _entry = id;
        }
        return id;
    }

    /// <summary>
    /// Inserts many vectors on <paramref name="threads"/> threads (hnswlib's parallel build): the vectors are stored
    /// and given levels first, in order, then linked concurrently. Returns the first new id (the rest follow in order).
    /// </summary>
    public int InsertMany(IReadOnlyList<VectorStore.Query> queries, int threads)
    {
        int first = Count, n = queries.Count;
        if (n == 0) return first;
        _store.Reserve(first + n);
        Grow(first + n);
        for (int i = 0; i < n; i++)
        {
            int id = _store.Add(queries[i]);
            int level = RandomLevel();
            _level[id] = level;
            _upper[id] = level > 0 ? new int[level * (M + 1)] : null;
            _links0[id * (M0 + 1)] = 0;
        }
        LiveCount += n;
        int start = 0;
        if (_entry < 0)
        {
            _entry = first;
            _maxLevel = _level[first];
            start = 1;
        }
        _concurrent = threads > 1;
        try
        {
            if (threads <= 1) for (int i = start; i < n; i++) LinkConcurrent(first + i);
            else Parallel.For(start, n, new ParallelOptions { MaxDegreeOfParallelism = threads }, i => LinkConcurrent(first + i));
        }
        finally { _concurrent = false; }
        return first;
    }

    private void LinkConcurrent(int id)
    {
        int level = _level[id];
        Monitor.Enter(_entryLock);
        bool holding = true;
        try
        {
            int ep = _entry, maxLevel = _maxLevel;
            if (level <= maxLevel) { Monitor.Exit(_entryLock); holding = false; }
            var op = new InsertOp(this, id, level, ep, maxLevel);
            _store.WithNode(id, ref op);
            if (holding && level > _maxLevel)
            {
                _maxLevel = level;
                _entry = id;
            }
        }
        finally { if (holding) Monitor.Exit(_entryLock); }
    }

    private int RandomLevel() => (int)Math.Min(16, Math.Floor(-Math.Log(1.0 - _rng.NextDouble()) * _levelMult));

    private readonly struct InsertOp(HnswGraph g, int id, int level, int entry, int maxLevel) : IWalkUser
    {
        public void Use<TD>(ref TD d) where TD : struct, IWalkDistance => g.Link(ref d, id, level, entry, maxLevel);
    }

    /// <summary>Finds <paramref name="id"/>'s neighbours on each of its levels (hnswlib's insert: greedy descent, then
    /// an efConstruction search per level from the closest node found above) and links both ways.</summary>
    private void Link<TD>(ref TD d, int id, int level, int entry, int maxLevel) where TD : struct, IWalkDistance
    {
        int ep = entry;
        float epDist = d.To(ep);
        for (int l = maxLevel; l > level; l--) (ep, epDist) = Greedy(ref d, ep, epDist, l);
        var ctx = SearchContext.Current;
        for (int l = Math.Min(level, maxLevel); l >= 0; l--)
        {
            ctx.Start(Count);
            SearchLayer(ref d, ctx, ep, epDist, EfConstruction, l, null, includeDeleted: true);
            int n = Drain(ctx, id);
            if (n == 0) continue;
            ep = ctx.Pool[0].Id;
            epDist = ctx.Pool[0].Dist;
            int kept = Heuristic(ref d, ctx.Pool, n, ctx.Kept, Capacity(l), fill: _fillLinks);
            lock (LockOf(id))
            {
                var mine = Links(id, l);
                mine[0] = kept;
                for (int i = 0; i < kept; i++) mine[i + 1] = ctx.Kept[i].Id;
            }
            for (int i = 0; i < kept; i++)
            {
                if (!_concurrent) Connect(ref d, ctx, ctx.Kept[i].Id, id, ctx.Kept[i].Dist, l);
                else lock (LockOf(ctx.Kept[i].Id)) Connect(ref d, ctx, ctx.Kept[i].Id, id, ctx.Kept[i].Dist, l);
            }
        }
    }

    /// <summary>Moves a walk's results into <see cref="SearchContext.Pool"/>, nearest first, without
    /// <paramref name="exclude"/> and deleted nodes; returns how many.</summary>
    private int Drain(SearchContext ctx, int exclude)
    {
        var results = ctx.Results;
        ctx.EnsurePool(results.Count);
        int n = results.Count, at = n;
        while (results.Count > 0)
        {
            ctx.Pool[--at] = (results.TopId, -results.TopDistance);
            results.Pop();
        }
        int w = 0;
        for (int i = 0; i < n; i++)
            if (ctx.Pool[i].Id != exclude && !_deleted[ctx.Pool[i].Id]) ctx.Pool[w++] = ctx.Pool[i];
        return w;
    }

    /// <summary>Adds <paramref name="to"/> to <paramref name="from"/>'s links at a level, shrinking them with the heuristic when full.</summary>
    private void Connect<TD>(ref TD d, SearchContext ctx, int from, int to, float dist, int level) where TD : struct, IWalkDistance
    {
        var links = Links(from, level);
        int count = links[0], cap = Capacity(level);
        for (int i = 1; i <= count; i++) if (links[i] == to) return;
        if (count < cap)
        {
            links[count + 1] = to;
            links[0] = count + 1;
            return;
        }
        var pool = ctx.ShrinkPool(count + 1);
        pool[0] = (to, dist);
        for (int i = 1; i <= count; i++) pool[i] = (links[i], d.Between(from, links[i]));
        SortByDistance(pool, count + 1);
        int kept = Heuristic(ref d, pool, count + 1, ctx.ShrinkKept, cap, fill: _fillLinks);
        links[0] = kept;
        for (int i = 0; i < kept; i++) links[i + 1] = ctx.ShrinkKept[i].Id;
    }

    private static void SortByDistance((int Id, float Dist)[] a, int n)
    {
        for (int i = 1; i < n; i++)
        {
            var x = a[i];
            int j = i - 1;
            while (j >= 0 && a[j].Dist > x.Dist) { a[j + 1] = a[j]; j--; }
            a[j + 1] = x;
        }
    }

    /// <summary>
    /// Keeps a candidate (from <paramref name="sorted"/>, nearest first) only if it is closer to the base than to
    /// every neighbour kept so far, hnswlib's diverse links. With <paramref name="fill"/> the free slots then take
    /// the closest pruned candidates (used when repairing around a deleted node, to keep the graph connected).
    /// </summary>
    private static int Heuristic<TD>(ref TD d, (int Id, float Dist)[] sorted, int n, (int Id, float Dist)[] kept, int cap, bool fill)
        where TD : struct, IWalkDistance
    {
        int k = 0;
        for (int i = 0; i < n && k < cap; i++)
        {
            var c = sorted[i];
            bool good = true;
            for (int j = 0; j < k; j++)
                if (d.Between(kept[j].Id, c.Id) < c.Dist) { good = false; break; }
            if (good) kept[k++] = c;
        }
        if (fill && k < cap)
        {
            int chosen = k;
            for (int i = 0; i < n && k < cap; i++)
            {
                bool already = false;
                for (int j = 0; j < chosen && !already; j++) already = kept[j].Id == sorted[i].Id;
                if (!already) kept[k++] = sorted[i];
            }
        }
        return k;
    }

    // ---- search ----

    private (int, float) Greedy<TD>(ref TD d, int ep, float epDist, int level) where TD : struct, IWalkDistance
    {
        bool moved = true;
        var copy = _concurrent ? SearchContext.Current.LinkCopy(M0 + 1) : null;
        while (moved)
        {
            moved = false;
            var links = Links(ep, level);
            if (copy != null) links = Snapshot(ep, links, copy);
            int count = links[0];
            for (int i = 1; i <= count; i++)
            {
                float dn = d.To(links[i]);
                if (dn < epDist) { epDist = dn; ep = links[i]; moved = true; }
            }
        }
        return (ep, epDist);
    }

    /// <summary>
    /// Best-first search of one layer from one entry point, results left in <c>ctx.Results</c> (negated distances).
    /// Every node is walked through; only nodes that pass <paramref name="allow"/> (and are not deleted, unless
    /// asked) enter the results, so filters cost no recall from a post-filter.
    /// </summary>
    private void SearchLayer<TD>(ref TD d, SearchContext ctx, int ep, float epDist, int ef, int level, Func<int, bool>? allow, bool includeDeleted)
        where TD : struct, IWalkDistance
    {
        var candidates = ctx.Candidates;
        var results = ctx.Results;
        var copy = _concurrent ? ctx.LinkCopy(M0 + 1) : null;
        ctx.Visit(ep);
        candidates.Push(epDist, ep);
        if (Accept(ep, allow, includeDeleted)) results.Push(-epDist, ep);
        int stride = M0 + 1;
        while (candidates.Count > 0)
        {
            float dc = candidates.TopDistance;
            int c = candidates.TopId;
            if (results.Count >= ef && dc > -results.TopDistance) break;
            candidates.Pop();
            ref int links = ref level == 0
                ? ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_links0), c * stride)
                : ref MemoryMarshal.GetArrayDataReference(_upper[c]!);
            if (level > 0) links = ref Unsafe.Add(ref links, (level - 1) * (M + 1));
            if (copy != null) links = ref MemoryMarshal.GetArrayDataReference(SnapshotInto(c, MemoryMarshal.CreateSpan(ref links, level == 0 ? stride : M + 1), copy));
            int count = links;
            if (count > 0) d.Prefetch(Unsafe.Add(ref links, 1));
            for (int i = 1; i <= count; i++)
            {
                int n = Unsafe.Add(ref links, i);
                if (i < count) d.Prefetch(Unsafe.Add(ref links, i + 1));
                if (!ctx.Visit(n)) continue;
                float dn = d.To(n);
                if (results.Count < ef || dn < -results.TopDistance)
                {
                    candidates.Push(dn, n);
                    if (Accept(n, allow, includeDeleted))
                    {
                        results.Push(-dn, n);
                        if (results.Count > ef) results.Pop();
                    }
                }
            }
        }
    }

    /// <summary>A node's link list copied under its lock (parallel inserts change lists while others read them).</summary>
    private Span<int> Snapshot(int node, Span<int> links, int[] copy) => SnapshotInto(node, links, copy).AsSpan(0, copy[0] + 1);

    private int[] SnapshotInto(int node, Span<int> links, int[] copy)
    {
        lock (LockOf(node))
        {
            int count = links[0];
            links[..(count + 1)].CopyTo(copy);
            return copy;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Accept(int id, Func<int, bool>? allow, bool includeDeleted) =>
        (includeDeleted || !_deleted[id]) && (allow == null || allow(id));

    private struct SearchOp(HnswGraph g, int k, int ef, Func<int, bool>? allow) : IWalkUser
    {
        public List<(int Id, double Dist)> Found = [];
        public void Use<TD>(ref TD d) where TD : struct, IWalkDistance => Found = g.Walk(ref d, k, ef, allow);
    }

    /// <summary>The k nearest live nodes that pass <paramref name="allow"/>, nearest first, with exact ranking distances.</summary>
    public List<(int Id, double Dist)> Search(in VectorStore.Query q, int k, int ef, Func<int, bool>? allow)
    {
        if (_entry < 0 || LiveCount == 0 || k <= 0) return [];
        var op = new SearchOp(this, k, Math.Max(ef, k), allow);
        _store.WithQuery(q, ref op);
        if (_store.WalkIsExact) return op.Found;
        // Re-rank with exact distances: float64 Poincaré δ, float vectors behind int8 codes.
        var found = op.Found;
        for (int i = 0; i < found.Count; i++) found[i] = (found[i].Id, _store.Exact(q, found[i].Id));
        found.Sort((a, b) => a.Dist != b.Dist ? a.Dist.CompareTo(b.Dist) : a.Id.CompareTo(b.Id));
        if (found.Count > k) found.RemoveRange(k, found.Count - k);
        return found;
    }

    /// <summary>Greedy descent and the layer-0 walk; the nearest (up to k when the walk is exact, else all ef) in order.</summary>
    private List<(int Id, double Dist)> Walk<TD>(ref TD d, int k, int ef, Func<int, bool>? allow) where TD : struct, IWalkDistance
    {
        int ep = _entry;
        float epDist = d.To(ep);
        for (int l = _maxLevel; l > 0; l--) (ep, epDist) = Greedy(ref d, ep, epDist, l);
        var ctx = SearchContext.Current;
        ctx.Start(Count);
        SearchLayer(ref d, ctx, ep, epDist, ef, 0, allow, includeDeleted: false);
        var results = ctx.Results;
        int n = results.Count;
        var all = ctx.Pool.Length >= n ? ctx.Pool : (ctx.Pool = new (int, float)[n]);
        for (int at = n; results.Count > 0; results.Pop()) all[--at] = (results.TopId, -results.TopDistance);
        int take = _store.WalkIsExact ? Math.Min(k, n) : n;
        var list = new List<(int Id, double Dist)>(take);
        for (int i = 0; i < take; i++) list.Add((all[i].Id, all[i].Dist));
        return list;
    }

    // ---- snapshot images ----

    /// <summary>The live nodes (old ids in order) and their links renumbered to 0..n−1, deleted nodes dropped.</summary>
    public (int[] LiveIds, int[] Levels, int[][] Links, int Entry) Compact()
    {
        var live = Enumerable.Range(0, Count).Where(i => !_deleted[i]).ToArray();
        var map = new Dictionary<int, int>(live.Length);
        for (int i = 0; i < live.Length; i++) map[live[i]] = i;
        var levels = new int[live.Length];
        var links = new int[live.Length][];
        for (int i = 0; i < live.Length; i++)
        {
            int id = live[i];
            levels[i] = _level[id];
            var flat = new List<int>();
            for (int l = 0; l <= _level[id]; l++)
            {
                var ln = Links(id, l);
                var keep = new List<int>();
                for (int j = 1; j <= ln[0]; j++) if (map.TryGetValue(ln[j], out var nid)) keep.Add(nid);
                flat.Add(keep.Count);
                flat.AddRange(keep);
            }
            links[i] = flat.ToArray();
        }
        return (live, levels, links, _entry >= 0 && map.TryGetValue(_entry, out var e) ? e : -1);
    }

    /// <summary>Installs links for vectors already added to the store (ids 0..n−1), as written by <see cref="Compact"/>.
    /// Throws InvalidDataException when the image does not describe a valid graph.</summary>
    public void Restore(int[] levels, int[][] links, int entry)
    {
        int n = levels.Length;
        if (_store.Count != n) throw new InvalidDataException("graph image and vector count differ");
        Grow(n);
        for (int i = 0; i < n; i++)
        {
            if (levels[i] < 0 || levels[i] > 16) throw new InvalidDataException($"node {i} has level {levels[i]}");
            _level[i] = levels[i];
            _upper[i] = levels[i] > 0 ? new int[levels[i] * (M + 1)] : null;
            int at = 0;
            for (int l = 0; l <= levels[i]; l++)
            {
                if (at >= links[i].Length) throw new InvalidDataException($"node {i} is missing links for level {l}");
                int count = links[i][at++];
                if (count < 0 || count > Capacity(l) || at + count > links[i].Length) throw new InvalidDataException($"node {i} has {count} links at level {l}");
                var dst = Links(i, l);
                dst[0] = count;
                for (int j = 0; j < count; j++)
                {
                    int t = links[i][at++];
                    if (t < 0 || t >= n || levels[t] < l) throw new InvalidDataException($"node {i} links to invalid node {t} at level {l}");
                    dst[j + 1] = t;
                }
            }
        }
        LiveCount = n;
        if (n > 0 && (entry < 0 || entry >= n)) throw new InvalidDataException($"entry point {entry} is not a node");
        _entry = n > 0 ? entry : -1;
        _maxLevel = n > 0 ? levels[entry] : -1;
        if (n > 0 && levels.Max() != _maxLevel) throw new InvalidDataException("entry point is not on the top level");
    }

    // ---- delete ----

    /// <summary>Tombstones a node and reconnects every neighbour that linked to it, so the graph stays navigable.</summary>
    public void Delete(int id)
    {
        if (_deleted[id]) return;
        _deleted[id] = true;
        LiveCount--;
        for (int l = 0; l <= _level[id]; l++)
        {
            var mine = Links(id, l).ToArray();
            for (int i = 1; i <= mine[0]; i++)
            {
                int n = mine[i];
                if (_deleted[n]) continue;
                Repair(n, id, mine, l);
            }
        }
        if (_entry == id) ChooseNewEntry();
    }

    private void Repair(int node, int removed, int[] removedLinks, int level)
    {
        var op = new RepairOp(this, node, removed, removedLinks, level);
        _store.WithNode(node, ref op);
    }

    private readonly struct RepairOp(HnswGraph g, int node, int removed, int[] removedLinks, int level) : IWalkUser
    {
        public void Use<TD>(ref TD d) where TD : struct, IWalkDistance => g.Relink(ref d, node, removed, removedLinks, level);
    }

    /// <summary>Re-chooses <paramref name="node"/>'s links from its own and the removed node's, when it pointed at it.</summary>
    private void Relink<TD>(ref TD d, int node, int removed, int[] removedLinks, int level) where TD : struct, IWalkDistance
    {
        var links = Links(node, level);
        bool pointed = false;
        for (int i = 1; i <= links[0]; i++) pointed |= links[i] == removed;
        if (!pointed) return;
        var ctx = SearchContext.Current;
        var pool = ctx.ShrinkPool(links[0] + removedLinks[0]);
        int n = 0;
        void Add(ref TD dist, (int Id, float Dist)[] p, int id)
        {
            if (id == removed || id == node || _deleted[id]) return;
            for (int j = 0; j < n; j++) if (p[j].Id == id) return;
            p[n++] = (id, dist.To(id));
        }
        for (int i = 1; i <= links[0]; i++) Add(ref d, pool, links[i]);
        for (int i = 1; i <= removedLinks[0]; i++) Add(ref d, pool, removedLinks[i]);
        SortByDistance(pool, n);
        int kept = Heuristic(ref d, pool, n, ctx.ShrinkKept, Capacity(level), fill: true);
        links[0] = kept;
        for (int i = 0; i < kept; i++) links[i + 1] = ctx.ShrinkKept[i].Id;
    }

    private void ChooseNewEntry()
    {
        _entry = -1;
        _maxLevel = -1;
        for (int i = 0; i < Count; i++)
            if (!_deleted[i] && _level[i] > _maxLevel) { _entry = i; _maxLevel = _level[i]; }
    }
}

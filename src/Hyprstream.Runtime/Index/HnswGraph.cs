namespace Hyprstream.Runtime.Index;

/// <summary>
/// A hierarchical navigable small-world graph (Malkov &amp; Yashunin) over a <see cref="VectorStore"/>: insert with the
/// neighbour-selection heuristic, k-NN search with a per-query ef and a filter applied while walking, and deletion
/// by tombstone plus repair of the neighbours' links. Not thread-safe: <see cref="AdapterIndex"/> serialises writers.
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
    private readonly ThreadLocal<int[]> _visited = new(() => []);
    private readonly ThreadLocal<int> _stamp = new(() => 0);

    public HnswGraph(VectorStore store, int m, int efConstruction, int seed)
    {
        _store = store;
        M = m;
        M0 = 2 * m;
        EfConstruction = efConstruction;
        _rng = new Random(seed);
        _levelMult = 1.0 / Math.Log(m);
    }

    public int M { get; }
    public int M0 { get; }
    public int EfConstruction { get; set; }
    public int Count => _store.Count;
    public int LiveCount { get; private set; }
    public bool IsDeleted(int id) => _deleted[id];
    public int Level(int id) => _level[id];
    public int Entry => _entry;

    public long LinkBytes() =>
        (long)_links0.Length * 4 + _upper.Sum(u => u == null ? 0L : u.Length * 4L) + _level.Length * 5L;

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
        var exact = _store.Of(id);
        int ep = _entry;
        double epDist = _store.Walk(exact, ep);
        for (int l = _maxLevel; l > level; l--) (ep, epDist) = Greedy(exact, ep, epDist, l);
        var entries = new List<(int, double)> { (ep, epDist) };
        for (int l = Math.Min(level, _maxLevel); l >= 0; l--)
        {
            var found = SearchLayer(exact, entries, EfConstruction, l, null, includeDeleted: true);
            var chosen = SelectNeighbors(found, Capacity(l), exclude: id);
            var mine = Links(id, l);
            mine[0] = chosen.Count;
            for (int i = 0; i < chosen.Count; i++) mine[i + 1] = chosen[i].Id;
            foreach (var (n, d) in chosen) Connect(n, id, d, l);
            entries = found;
        }
        if (level > _maxLevel)
        {
            _maxLevel = level;
            _entry = id;
        }
        return id;
    }

    private int RandomLevel() => (int)Math.Min(16, Math.Floor(-Math.Log(1.0 - _rng.NextDouble()) * _levelMult));

    /// <summary>Adds <paramref name="to"/> to <paramref name="from"/>'s links at a level, shrinking them with the heuristic when full.</summary>
    private void Connect(int from, int to, double dist, int level)
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
        var all = new List<(int Id, double Dist)>(count + 1) { (to, dist) };
        for (int i = 1; i <= count; i++) all.Add((links[i], _store.Between(from, links[i])));
        all.Sort((a, b) => a.Dist.CompareTo(b.Dist));
        var kept = Heuristic(all, cap);
        links[0] = kept.Count;
        for (int i = 0; i < kept.Count; i++) links[i + 1] = kept[i].Id;
    }

    private List<(int Id, double Dist)> SelectNeighbors(List<(int Id, double Dist)> found, int cap, int exclude)
    {
        var sorted = found.Where(f => f.Id != exclude && !_deleted[f.Id]).OrderBy(f => f.Dist).ToList();
        return Heuristic(sorted, cap);
    }

    /// <summary>Keeps a candidate only if it is closer to the base than to every neighbour kept so far (diverse links).</summary>
    private List<(int Id, double Dist)> Heuristic(List<(int Id, double Dist)> sortedByDist, int cap)
    {
        var kept = new List<(int Id, double Dist)>(cap);
        foreach (var c in sortedByDist)
        {
            if (kept.Count >= cap) break;
            bool good = true;
            foreach (var k in kept)
                if (_store.Between(k.Id, c.Id) < c.Dist) { good = false; break; }
            if (good) kept.Add(c);
        }
        // Fill remaining slots with the closest pruned candidates: keeps the graph connected on hard data.
        if (kept.Count < cap)
            foreach (var c in sortedByDist)
            {
                if (kept.Count >= cap) break;
                if (!kept.Exists(k => k.Id == c.Id)) kept.Add(c);
            }
        return kept;
    }

    // ---- search ----

    private (int, double) Greedy(in VectorStore.Query q, int ep, double epDist, int level)
    {
        bool moved = true;
        while (moved)
        {
            moved = false;
            var links = Links(ep, level);
            for (int i = 1; i <= links[0]; i++)
            {
                double d = _store.Walk(q, links[i]);
                if (d < epDist) { epDist = d; ep = links[i]; moved = true; }
            }
        }
        return (ep, epDist);
    }

    /// <summary>
    /// Best-first search of one layer. Every node is walked through; only nodes that pass <paramref name="allow"/>
    /// (and are not deleted, unless asked) enter the result list, so filters cost no recall from a post-filter.
    /// </summary>
    private List<(int Id, double Dist)> SearchLayer(in VectorStore.Query q, List<(int Id, double Dist)> entries, int ef, int level,
        Func<int, bool>? allow, bool includeDeleted)
    {
        var visited = _visited.Value!;
        if (visited.Length < _level.Length) { visited = new int[_level.Length]; _visited.Value = visited; _stamp.Value = 0; }
        int stamp = _stamp.Value + 1;
        if (stamp == int.MaxValue) { Array.Clear(visited); stamp = 1; }
        _stamp.Value = stamp;

        var candidates = new PriorityQueue<int, double>();
        var results = new PriorityQueue<int, double>(); // max-heap via negated distance
        foreach (var (id, d) in entries)
        {
            if (visited[id] == stamp) continue;
            visited[id] = stamp;
            candidates.Enqueue(id, d);
            if (Accept(id, allow, includeDeleted)) results.Enqueue(id, -d);
        }
        while (candidates.TryDequeue(out int c, out double dc))
        {
            if (results.Count >= ef && dc > -Worst(results)) break;
            var links = Links(c, level);
            int count = links[0];
            for (int i = 1; i <= count; i++)
            {
                int n = links[i];
                if (visited[n] == stamp) continue;
                visited[n] = stamp;
                double dn = _store.Walk(q, n);
                if (results.Count < ef || dn < -Worst(results))
                {
                    candidates.Enqueue(n, dn);
                    if (Accept(n, allow, includeDeleted))
                    {
                        results.Enqueue(n, -dn);
                        if (results.Count > ef) results.Dequeue();
                    }
                }
            }
        }
        var list = new List<(int, double)>(results.Count);
        while (results.TryDequeue(out int id, out double nd)) list.Add((id, -nd));
        return list;
    }

    private static double Worst(PriorityQueue<int, double> results) => results.TryPeek(out _, out double p) ? p : double.NegativeInfinity;

    private bool Accept(int id, Func<int, bool>? allow, bool includeDeleted) =>
        (includeDeleted || !_deleted[id]) && (allow == null || allow(id));

    /// <summary>The k nearest live nodes that pass <paramref name="allow"/>, nearest first, with exact ranking distances.</summary>
    public List<(int Id, double Dist)> Search(in VectorStore.Query q, int k, int ef, Func<int, bool>? allow)
    {
        if (_entry < 0 || LiveCount == 0 || k <= 0) return [];
        ef = Math.Max(ef, k);
        int ep = _entry;
        double epDist = _store.Walk(q, ep);
        for (int l = _maxLevel; l > 0; l--) (ep, epDist) = Greedy(q, ep, epDist, l);
        var found = SearchLayer(q, [(ep, epDist)], ef, 0, allow, includeDeleted: false);
        // Re-rank with exact distances (a no-op reorder when vectors are not quantised).
        var exact = new List<(int Id, double Dist)>(found.Count);
        foreach (var (id, _) in found) exact.Add((id, _store.Exact(q, id)));
        exact.Sort((a, b) => a.Dist != b.Dist ? a.Dist.CompareTo(b.Dist) : a.Id.CompareTo(b.Id));
        if (exact.Count > k) exact.RemoveRange(k, exact.Count - k);
        return exact;
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
        var links = Links(node, level);
        var pool = new HashSet<int>();
        for (int i = 1; i <= links[0]; i++) if (links[i] != removed && !_deleted[links[i]]) pool.Add(links[i]);
        bool pointed = false;
        for (int i = 1; i <= links[0]; i++) pointed |= links[i] == removed;
        if (!pointed) return;
        for (int i = 1; i <= removedLinks[0]; i++)
            if (removedLinks[i] != node && !_deleted[removedLinks[i]]) pool.Add(removedLinks[i]);
        var sorted = pool.Select(p => (Id: p, Dist: _store.Between(node, p))).OrderBy(p => p.Dist).ToList();
        var kept = Heuristic(sorted, Capacity(level));
        links[0] = kept.Count;
        for (int i = 0; i < kept.Count; i++) links[i + 1] = kept[i].Id;
    }

    private void ChooseNewEntry()
    {
        _entry = -1;
        _maxLevel = -1;
        for (int i = 0; i < Count; i++)
            if (!_deleted[i] && _level[i] > _maxLevel) { _entry = i; _maxLevel = _level[i]; }
    }
}

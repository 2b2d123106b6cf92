namespace Hyprstream.Runtime.Index;

/// <summary>
/// One generation of an index: the vectors, the graph over them and the names and tags of its nodes. A background
/// rebuild (compaction, a new M) fills a new generation while the old one serves, then the two are swapped.
/// Not thread-safe: <see cref="AdapterIndex"/> guards it.
/// </summary>
internal sealed class IndexState
{
    public readonly VectorStore Store;
    public readonly HnswGraph Graph;
    public readonly Dictionary<string, int> Ids = new(StringComparer.Ordinal);
    public readonly List<string?> Names = new();
    public readonly List<HashSet<string>> Tags = new();

    public IndexState(int dim, DistanceMetric metric, HnswParameters p)
    {
        Store = new VectorStore(dim, metric, p.QuantizeInt8);
        Graph = new HnswGraph(Store, p.M, p.EfConstruction, p.Seed);
    }

    public int Dim => Store.Dim;

    /// <summary>Adds or replaces <paramref name="name"/>'s node (a replaced node is tombstoned and repaired around).</summary>
    public void Upsert(string name, in VectorStore.Query q, string[] tags)
    {
        if (Ids.ContainsKey(name)) Remove(name);
        int id = Graph.Insert(q);
        if (id != Names.Count) throw new InvalidOperationException("index ids out of step");
        AddName(name, tags);
    }

    /// <summary>Adds entries whose names are not in the index yet, linked on <paramref name="threads"/> threads
    /// (<see cref="HnswGraph.InsertMany"/>). Every vector is checked before any is added (ArgumentException).</summary>
    public void AddMany(IReadOnlyList<(string Name, string[] Tags, double[] Vector)> entries, int threads)
    {
        var queries = new VectorStore.Query[entries.Count];
        for (int i = 0; i < queries.Length; i++)
        {
            if (Ids.ContainsKey(entries[i].Name)) throw new ArgumentException($"'{entries[i].Name}' is in the index already");
            queries[i] = Store.Prepare(entries[i].Vector);
        }
        if (Graph.InsertMany(queries, threads) != Names.Count) throw new InvalidOperationException("index ids out of step");
        foreach (var e in entries) AddName(e.Name, e.Tags);
    }

    public void AddName(string name, IEnumerable<string> tags)
    {
        Ids[name] = Names.Count;
        Names.Add(name);
        Tags.Add(new HashSet<string>(tags, StringComparer.Ordinal));
    }

    public bool Remove(string name)
    {
        if (!Ids.Remove(name, out var id)) return false;
        Graph.Delete(id);
        Names[id] = null;
        return true;
    }

    /// <summary>Tombstoned nodes (removed or replaced, still in the graph until a compaction).</summary>
    public int Deleted => Graph.Count - Graph.LiveCount;

    /// <summary>The live nodes' names, tags and vectors (cosine: the normalised ones), in node order.</summary>
    public List<(string Name, string[] Tags, double[] Vector)> Live()
    {
        var list = new List<(string, string[], double[])>(Graph.LiveCount);
        for (int i = 0; i < Names.Count; i++)
            if (Names[i] is { } n) list.Add((n, Tags[i].ToArray(), Store.Vector(i)));
        return list;
    }
}

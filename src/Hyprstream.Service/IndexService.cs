using System.Text.Json.Nodes;
using Apache.Arrow;
using Apache.Arrow.Types;
using Hyprstream.Flight.Ipc;
using Grpc.Core;
using Hyprstream.Flight;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Index;
using Hyprstream.Runtime.Store;
using static Hyprstream.Service.JsonFields;

namespace Hyprstream.Service;

/// <summary>
/// The adapter-routing index of a data directory (kept in `&lt;data&gt;/.index`, a name no adapter can take), served
/// through the actions `index-upsert`, `index-remove`, `search` and the flight ["index"]. Created by the first
/// upsert, with the metric it names (cosine by default) and the dimension of its vector. One index serves every
/// tenant: an embedding of "TENANT@name" always carries the tag "tenant=TENANT" (set here, from the stored name),
/// a tenant's search is filtered by it while the graph is walked (so k results still come back), and a tenant's
/// results, rows and counts hold only its own adapters, by the names it knows them by.
/// </summary>
public sealed partial class IndexService : IDisposable
{
    public const string Flight = "index";

    /// <summary>The NOT_FOUND message before the first upsert (and, for a tenant, before its first).</summary>
    public const string NoIndex = "there is no adapter index yet: add embeddings with the index-upsert action";

    private const string TenantTag = "tenant=";
    private readonly object _gate = new();
    private readonly string _dir;
    private readonly AdapterStore _store;
    private AdapterIndex? _index;

    public IndexService(string dataDirectory, AdapterStore store, Action<string>? log = null)
    {
        _dir = Path.Combine(dataDirectory, ".index");
        _store = store;
        if (AdapterIndex.HasData(_dir) && !AdapterIndex.HasSettings(_dir)) MoveIntoStore(log);
        _index = AdapterIndex.OpenOnStore(store, _dir);
        if (store.IsReplica) FollowReplica();
        if (_index is { } i && (i.Recovery.RecordsReplayed > 0 || i.Recovery.Skipped > 0 || i.Recovery.GraphRebuilt))
            log?.Invoke($"index: {i.Count} embeddings; graph cache {i.Recovery.Snapshot ?? "none (built from the store)"}, {i.Recovery.RecordsReplayed} changes to match the store, {i.Recovery.Skipped} embeddings that do not fit left out");
    }

    /// <summary>
    /// An index written by an older release kept its own log in `.index`: its embeddings of stored adapters become
    /// store descriptions (durable), then its files go. A crash in between repeats the move on the next start.
    /// </summary>
    private void MoveIntoStore(Action<string>? log)
    {
        int moved = 0, dropped = 0;
        using (var old = AdapterIndex.Open(_dir))
        using (var index = AdapterIndex.CreateOnStore(_store, _dir, old.Dimensions, old.Metric, old.Parameters))
            foreach (var (name, vector, tags) in old.Entries())
            {
                if (_store.Contains(name)) { index.Upsert(name, vector, tags); moved++; }
                else dropped++;
            }
        foreach (var f in Directory.EnumerateFiles(_dir, "index.*"))
            if (Path.GetFileName(f).StartsWith(AdapterIndex.SnapshotFile) || Path.GetFileName(f).StartsWith(AdapterIndex.LogFile)) File.Delete(f);
        log?.Invoke($"index: moved {moved} embeddings from {_dir}'s own log into the store ({dropped} of adapters no longer stored dropped)");
    }

    /// <summary>The index, or null before the first upsert.</summary>
    public AdapterIndex? Index { get { lock (_gate) return _index; } }

    /// <summary>The most dimensions an embedding may have.</summary>
    public const int MaxDimensions = 65536;

    /// <summary>The largest Euclidean norm a vector (embedding or query) may have.</summary>
    public const double MaxNorm = 1e9;

    /// <summary>The most results one search returns, and the largest ef it accepts.</summary>
    public const int MaxK = 10_000, MaxEf = 100_000;

    /// <summary>
    /// Adds or replaces an adapter's embedding. <paramref name="adapterExists"/> (the store's Contains, from the
    /// service) makes an embedding of an unknown adapter NOT_FOUND.
    /// </summary>
    public object Upsert(JsonObject body, Func<string, bool>? adapterExists = null, Caller? caller = null)
    {
        caller ??= Caller.Admin;
        var shown = Str(body, "adapter");
        var name = caller.In(shown);
        var vector = Vector(body);
        var tags = Tags(OptStrings(body, "tags") ?? [], name, caller);
        var metricName = OptStr(body, "metric");
        if (adapterExists != null && !adapterExists(name))
            throw ErrorMapping.NotFound($"no adapter '{shown}': index-upsert takes embeddings of stored adapters only");
        AdapterIndex index;
        lock (_gate)
        {
            if (_index == null)
            {
                var metric = metricName != null ? Metric(metricName) : DistanceMetric.Cosine;
                _index = AdapterIndex.CreateOnStore(_store, _dir, vector.Length, metric);
            }
            index = _index;
        }
        CheckMetric(index, body);
        index.Upsert(name, vector, tags);
        return new { adapter = shown, count = CountFor(index, caller), metric = index.Metric.Name(), dimensions = index.Dimensions };
    }

    /// <summary>
    /// The tags as stored: the tenant tag follows the stored name ("TENANT@x" gets "tenant=TENANT" and no other
    /// tenant tag). A tenant token may send its own tenant tag, not another's.
    /// </summary>
    private static string[] Tags(string[] tags, string stored, Caller caller)
    {
        if (caller.Scoped)
            foreach (var t in tags)
                if (t.StartsWith(TenantTag, StringComparison.Ordinal) && t != TenantTag + caller.Tenant)
                    throw ErrorMapping.Invalid($"tag {StatusText.Quote(t)}: a tenant token's embeddings carry only its own tenant tag (set by the server)");
        if (Caller.TenantOf(stored) is not { } tenant) return tags;
        return [.. tags.Where(t => !t.StartsWith(TenantTag, StringComparison.Ordinal)), TenantTag + tenant];
    }

    public object Remove(JsonObject body, Caller? caller = null) =>
        new { removed = Index?.Remove((caller ?? Caller.Admin).In(Str(body, "adapter"))) ?? false };

    /// <summary>How many embeddings the caller sees: all for an unscoped caller, else its tenant's.</summary>
    public long CountFor(AdapterIndex index, Caller caller) =>
        caller.Scoped ? index.Entries().Count(e => caller.Owns(e.Adapter)) : index.Count;

    public object Search(JsonObject body, Caller? caller = null)
    {
        caller ??= Caller.Admin;
        var index = Index is { } idx && (!caller.Scoped || CountFor(idx, caller) > 0) ? idx : throw ErrorMapping.NotFound(NoIndex);
        CheckMetric(index, body);
        var vector = Vector(body);
        int k = OptInt(body, "k", 1, MaxK) ?? 10;
        int? ef = OptInt(body, "ef", 1, MaxEf);
        IndexFilter? filter = null;
        if (OptObject(body, "filter") is { } f)
            filter = new IndexFilter
            {
                AllOf = Filter(f, "tags"),
                AnyOf = Filter(f, "any"),
                Tenant = OptStr(f, "tenant", "filter.tenant"),
            };
        if (caller.Scoped)
        {
            if (filter?.Tenant is { } t && t != caller.Tenant)
                throw ErrorMapping.Invalid($"filter.tenant {StatusText.Quote(t)}: a tenant token searches only its own tenant's adapters");
            filter = (filter ?? new IndexFilter()) with { Tenant = caller.Tenant };
        }
        // Owns: a second check by name, should a tag ever disagree with the name it belongs to.
        var hits = index.Search(vector, k, filter, ef).Where(h => caller.Owns(h.Adapter));
        return new { metric = index.Metric.Name(), results = hits.Select(h => new { adapter = caller.Out(h.Adapter), distance = h.Distance }) };
    }

    /// <summary>
    /// `index-config`: sets any of ef_search (the default ef of a search), ef_construction and M; a new M rebuilds the
    /// graph in the background while the old one keeps serving. Kept in the index's settings. Returns the stats.
    /// </summary>
    public object Configure(JsonObject body)
    {
        var index = Index ?? throw ErrorMapping.NotFound(NoIndex);
        foreach (var (key, _) in body)
            if (key is not ("ef_search" or "ef_construction" or "M" or "m" or "wait"))
                throw ErrorMapping.Invalid($"index-config: unknown setting {StatusText.Quote(key)} (ef_search, ef_construction, M, wait)");
        var p = index.Parameters;
        var next = p with
        {
            EfSearch = OptInt(body, "ef_search", 1, MaxEf) ?? p.EfSearch,
            EfConstruction = OptInt(body, "ef_construction", 1, MaxEf) ?? p.EfConstruction,
            M = OptInt(body, "M", 2, 256) ?? OptInt(body, "m", 2, 256) ?? p.M,
        };
        if (next != p) index.Parameters = next;
        if (OptBool(body, "wait") == true && !index.WaitForRebuild(TimeSpan.FromMinutes(10)))
            throw ErrorMapping.Status(StatusCode.DeadlineExceeded, "index-config: the rebuild did not finish within 10 minutes (it goes on in the background)");
        return Stats(index);
    }

    /// <summary>The index's part of `stats` (null before the first upsert).</summary>
    public object? Stats(Caller caller)
    {
        if (Index is not { } index) return null;
        return caller.Scoped ? new { count = CountFor(index, caller) } : Stats(index);
    }

    private static object Stats(AdapterIndex index)
    {
        var s = index.Stats();
        return new
        {
            metric = s.Metric.Name(), dimensions = s.Dimensions, count = s.Count, deleted = s.Deleted, ef_search = s.EfSearch,
            ef_construction = s.EfConstruction, M = s.M, rebuilding = s.Rebuilding, rebuilds = s.Rebuilds, compactions = s.Compactions,
            rebuild_error = index.RebuildError, memory_bytes = s.VectorBytesHot + s.LinkBytes, home = s.Home,
        };
    }

    /// <summary>`adapter utf8, embedding fixed_size_list&lt;float32&gt;[dim]` (Poincaré coordinates are rounded to float32 here).</summary>
    public Schema Schema(AdapterIndex index) => new([
        new Field("adapter", StringType.Default, nullable: false),
        new Field("embedding", new FixedSizeListType(new Field("item", FloatType.Default, nullable: false), index.Dimensions), nullable: false),
    ], new Dictionary<string, string> { ["hyprstream.metric"] = index.Metric.Name() });

    /// <summary>The index's vectors as record batches of at most <paramref name="rows"/> rows.</summary>
    public IEnumerable<RecordBatch> Batches(AdapterIndex index, int rows, Caller? caller = null)
    {
        caller ??= Caller.Admin;
        var schema = Schema(index);
        foreach (var chunk in index.Entries().Where(e => caller.Owns(e.Adapter)).Chunk(rows))
        {
            var values = new float[chunk.Length * index.Dimensions];
            for (int i = 0; i < chunk.Length; i++)
                for (int d = 0; d < index.Dimensions; d++) values[i * index.Dimensions + d] = (float)chunk[i].Vector[d];
            yield return new RecordBatch(schema, [
                Columns.Utf8(chunk.Select(c => caller.Out(c.Adapter))),
                Columns.FixedSizeList(Columns.Float32(values, values.Length), index.Dimensions, chunk.Length),
            ], chunk.Length);
        }
    }

    private static void CheckMetric(AdapterIndex index, JsonObject body)
    {
        if (OptStr(body, "metric") is { } m && Metric(m) != index.Metric)
            throw ErrorMapping.Invalid($"the index uses the {index.Metric.Name()} metric, not {StatusText.Quote(m)}");
    }

    /// <summary>
    /// "vector": a non-empty array of at most <see cref="MaxDimensions"/> numbers, each finite as a float32, of
    /// Euclidean norm at most <see cref="MaxNorm"/> (so distances stay finite).
    /// </summary>
    private static double[] Vector(JsonObject body)
    {
        var v = Numbers(body, "vector");
        if (v.Length == 0) throw ErrorMapping.Invalid("\"vector\" must be a non-empty array of numbers");
        if (v.Length > MaxDimensions) throw ErrorMapping.Invalid($"\"vector\" has {v.Length} numbers; at most {MaxDimensions} dimensions");
        double sum = 0;
        for (int i = 0; i < v.Length; i++)
        {
            ToFloat(v[i], $"vector[{i}]");
            sum += (v[i] / MaxNorm) * (v[i] / MaxNorm); // scaled: squares of 1e308 would overflow
        }
        if (!(Math.Sqrt(sum) <= 1)) throw ErrorMapping.Invalid($"\"vector\" has a Euclidean norm above {MaxNorm:0e0}; scale it down");
        return v;
    }

    private static DistanceMetric Metric(string name)
    {
        try { return DistanceMetrics.Parse(name); }
        catch (ArgumentException) { throw ErrorMapping.Invalid($"unknown metric {StatusText.Quote(name)} (use l2, cosine or poincare)"); }
    }

    private static string[] Filter(JsonObject filter, string key) => OptStrings(filter, key, "filter." + key) ?? [];

    public void Dispose()
    {
        lock (_gate) _index?.Dispose();
    }
}

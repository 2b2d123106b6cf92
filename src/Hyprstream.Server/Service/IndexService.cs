using System.Text.Json.Nodes;
using Hyprstream.Flight.Ipc;
using Hyprstream.Runtime.Index;

namespace Hyprstream.Server.Service;

/// <summary>
/// The adapter-routing index of a data directory (kept in `&lt;data&gt;/.index`, a name no adapter can take), served
/// through the actions `index-upsert`, `index-remove`, `search` and the flight ["index"]. Created by the first
/// upsert, with the metric it names (cosine by default) and the dimension of its vector.
/// </summary>
public sealed class IndexService : IDisposable
{
    public const string Flight = "index";
    private readonly object _gate = new();
    private readonly string _dir;
    private AdapterIndex? _index;

    public IndexService(string dataDirectory)
    {
        _dir = Path.Combine(dataDirectory, ".index");
        if (File.Exists(Path.Combine(_dir, AdapterIndex.SnapshotFile)) || File.Exists(Path.Combine(_dir, AdapterIndex.SnapshotFile + ".prev")))
            _index = AdapterIndex.Open(_dir);
    }

    /// <summary>The index, or null before the first upsert.</summary>
    public AdapterIndex? Index { get { lock (_gate) return _index; } }

    public object Upsert(JsonObject body)
    {
        var name = Str(body, "adapter");
        var vector = Vector(body);
        var tags = body["tags"] is JsonArray t ? t.Select(x => x?.GetValue<string>() ?? throw ErrorMapping.Invalid("tags must be strings")).ToArray() : [];
        AdapterIndex index;
        lock (_gate)
        {
            if (_index == null)
            {
                var metric = body["metric"] is JsonValue m ? DistanceMetrics.Parse(m.GetValue<string>()) : DistanceMetric.Cosine;
                _index = AdapterIndex.Open(_dir, vector.Length, metric);
            }
            index = _index;
        }
        CheckMetric(index, body);
        index.Upsert(name, vector, tags);
        return new { adapter = name, count = index.Count, metric = index.Metric.Name(), dimensions = index.Dimensions };
    }

    public object Remove(JsonObject body) => new { removed = Index?.Remove(Str(body, "adapter")) ?? false };

    public object Search(JsonObject body)
    {
        var index = Index ?? throw ErrorMapping.NotFound("there is no adapter index yet: add embeddings with the index-upsert action");
        CheckMetric(index, body);
        int k = body["k"] is JsonValue kv ? kv.GetValue<int>() : 10;
        int? ef = body["ef"] is JsonValue ev ? ev.GetValue<int>() : null;
        IndexFilter? filter = null;
        if (body["filter"] is JsonObject f)
            filter = new IndexFilter
            {
                AllOf = Strings(f, "tags"),
                AnyOf = Strings(f, "any"),
                Tenant = f["tenant"] is JsonValue tv ? tv.GetValue<string>() : null,
            };
        var hits = index.Search(Vector(body), k, filter, ef);
        return new { metric = index.Metric.Name(), results = hits.Select(h => new { adapter = h.Adapter, distance = h.Distance }) };
    }

    /// <summary>`adapter utf8, embedding fixed_size_list&lt;float32&gt;[dim]` (Poincaré coordinates are rounded to float32 here).</summary>
    public ArrowSchema Schema(AdapterIndex index) => new([
        new ArrowField("adapter", ArrowType.Utf8, Nullable: false),
        new ArrowField("embedding", ArrowType.FixedSizeList(index.Dimensions, ArrowType.Float32), Nullable: false),
    ], new Dictionary<string, string> { ["hyprstream.metric"] = index.Metric.Name() });

    /// <summary>The index's vectors as record batches of at most <paramref name="rows"/> rows.</summary>
    public IEnumerable<ArrowRecordBatch> Batches(AdapterIndex index, int rows)
    {
        var schema = Schema(index);
        foreach (var chunk in index.Entries().Chunk(rows))
        {
            var values = new float[chunk.Length * index.Dimensions];
            for (int i = 0; i < chunk.Length; i++)
                for (int d = 0; d < index.Dimensions; d++) values[i * index.Dimensions + d] = (float)chunk[i].Vector[d];
            yield return new ArrowRecordBatch(schema, chunk.Length,
                [ArrowArray.Utf8(chunk.Select(c => (string?)c.Adapter).ToList()), ArrowArray.FixedSizeListFloat32(index.Dimensions, values)]);
        }
    }

    private static void CheckMetric(AdapterIndex index, JsonObject body)
    {
        if (body["metric"] is JsonValue m && DistanceMetrics.Parse(m.GetValue<string>()) != index.Metric)
            throw ErrorMapping.Invalid($"the index uses the {index.Metric.Name()} metric, not {m.GetValue<string>()}");
    }

    private static double[] Vector(JsonObject body) =>
        body["vector"] is JsonArray a && a.Count > 0
            ? a.Select(x => x is JsonValue v && v.TryGetValue<double>(out var d) ? d : throw ErrorMapping.Invalid("vector must hold numbers")).ToArray()
            : throw ErrorMapping.Invalid("\"vector\" must be a non-empty array of numbers");

    private static string Str(JsonObject body, string key) =>
        body[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw ErrorMapping.Invalid($"\"{key}\" must be a string");

    private static string[] Strings(JsonObject o, string key) =>
        o[key] is JsonArray a ? a.Select(x => x?.GetValue<string>() ?? throw ErrorMapping.Invalid($"\"{key}\" must hold strings")).ToArray() : [];

    public void Dispose()
    {
        lock (_gate) _index?.Dispose();
    }
}

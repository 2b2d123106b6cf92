using System.Text.Json.Nodes;
using Apache.Arrow;
using Apache.Arrow.Types;
using Hyprstream.Flight.Ipc;
using Grpc.Core;
using Hyprstream.Flight;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Index;
using static Hyprstream.Service.JsonFields;

namespace Hyprstream.Service;

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
        if (AdapterIndex.HasData(_dir)) _index = AdapterIndex.Open(_dir);
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
    public object Upsert(JsonObject body, Func<string, bool>? adapterExists = null)
    {
        var name = AdapterNames.ValidateAdapter(Str(body, "adapter"));
        var vector = Vector(body);
        var tags = OptStrings(body, "tags") ?? [];
        var metricName = OptStr(body, "metric");
        if (adapterExists != null && !adapterExists(name))
            throw ErrorMapping.NotFound($"no adapter '{name}': index-upsert takes embeddings of stored adapters only");
        AdapterIndex index;
        lock (_gate)
        {
            if (_index == null)
            {
                var metric = metricName != null ? Metric(metricName) : DistanceMetric.Cosine;
                _index = AdapterIndex.Open(_dir, vector.Length, metric);
            }
            index = _index;
        }
        CheckMetric(index, body);
        index.Upsert(name, vector, tags);
        return new { adapter = name, count = index.Count, metric = index.Metric.Name(), dimensions = index.Dimensions };
    }

    public object Remove(JsonObject body) => new { removed = Index?.Remove(AdapterNames.ValidateAdapter(Str(body, "adapter"))) ?? false };

    public object Search(JsonObject body)
    {
        var index = Index ?? throw ErrorMapping.NotFound("there is no adapter index yet: add embeddings with the index-upsert action");
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
        var hits = index.Search(vector, k, filter, ef);
        return new { metric = index.Metric.Name(), results = hits.Select(h => new { adapter = h.Adapter, distance = h.Distance }) };
    }

    /// <summary>`adapter utf8, embedding fixed_size_list&lt;float32&gt;[dim]` (Poincaré coordinates are rounded to float32 here).</summary>
    public Schema Schema(AdapterIndex index) => new([
        new Field("adapter", StringType.Default, nullable: false),
        new Field("embedding", new FixedSizeListType(new Field("item", FloatType.Default, nullable: false), index.Dimensions), nullable: false),
    ], new Dictionary<string, string> { ["hyprstream.metric"] = index.Metric.Name() });

    /// <summary>The index's vectors as record batches of at most <paramref name="rows"/> rows.</summary>
    public IEnumerable<RecordBatch> Batches(AdapterIndex index, int rows)
    {
        var schema = Schema(index);
        foreach (var chunk in index.Entries().Chunk(rows))
        {
            var values = new float[chunk.Length * index.Dimensions];
            for (int i = 0; i < chunk.Length; i++)
                for (int d = 0; d < index.Dimensions; d++) values[i * index.Dimensions + d] = (float)chunk[i].Vector[d];
            yield return new RecordBatch(schema, [
                Columns.Utf8(chunk.Select(c => c.Adapter)),
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

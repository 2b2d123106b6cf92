using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Index;
using Spectre.Console;

namespace Hyprstream.Server.Commands;

/// <summary>`hyprstream index add|remove|search|stats`: the adapter-routing index in a directory.</summary>
internal static class IndexCommands
{
    public static Command Create()
    {
        var cmd = new Command("index", "Nearest-adapter search over adapter embeddings (HNSW: l2, cosine, poincare)");
        cmd.Subcommands.Add(Add());
        cmd.Subcommands.Add(Remove());
        cmd.Subcommands.Add(Search());
        cmd.Subcommands.Add(Stats());
        return cmd;
    }

    private static Option<string> IndexDir() => new("--index") { Description = "index directory", Required = true };
    private static Option<bool> Json() => new("--json") { Description = "print JSON" };

    internal static double[] ParseVector(string s)
    {
        var parts = s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new ArgumentException("the vector is empty");
        return parts.Select((p, i) => double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)
            ? double.IsFinite(v) && float.IsFinite((float)v) ? v : throw new ArgumentException($"vector component {i} ('{p}') is not a finite float32 number")
            : throw new ArgumentException($"vector component {i} ('{p}') is not a number")).ToArray();
    }

    private static Command Add()
    {
        var dir = IndexDir();
        var name = new Argument<string>("adapter") { Description = "adapter name" };
        var vector = new Option<string>("--vector") { Description = "comma-separated components", Required = true };
        var tags = new Option<string[]>("--tag") { Description = "a tag (repeatable); tenant=<name> marks a tenant", AllowMultipleArgumentsPerToken = true };
        var metric = new Option<string>("--metric") { Description = "for a new index: l2, cosine or poincare", DefaultValueFactory = _ => "cosine" };
        var m = new Option<int>("--M") { Description = "for a new index: links per node", DefaultValueFactory = _ => 16 };
        var efc = new Option<int>("--ef-construction") { Description = "for a new index", DefaultValueFactory = _ => 200 };
        var cmd = new Command("add", "Add or replace an adapter's embedding (creates the index on first use)") { dir, name, vector, tags, metric, m, efc };
        cmd.SetAction(r =>
        {
            AdapterNames.ValidateAdapter(r.GetValue(name)); // before the index is created
            var v = ParseVector(r.GetValue(vector)!);
            using var index = AdapterIndex.Open(r.GetValue(dir)!, v.Length, DistanceMetrics.Parse(r.GetValue(metric)!),
                new HnswParameters { M = r.GetValue(m), EfConstruction = r.GetValue(efc) });
            index.Upsert(r.GetValue(name)!, v, r.GetValue(tags) ?? []);
            Console.WriteLine($"added {r.GetValue(name)} ({index.Count} adapters in the index)");
            return 0;
        });
        return cmd;
    }

    private static Command Remove()
    {
        var dir = IndexDir();
        var name = new Argument<string>("adapter") { Description = "adapter name" };
        var cmd = new Command("remove", "Remove an adapter from the index") { dir, name };
        cmd.SetAction(r =>
        {
            using var index = AdapterIndex.Open(r.GetValue(dir)!);
            if (!index.Remove(r.GetValue(name)!)) throw new KeyNotFoundException($"the index holds no adapter named '{r.GetValue(name)}'");
            Console.WriteLine($"removed {r.GetValue(name)}");
            return 0;
        });
        return cmd;
    }

    private static Command Search()
    {
        var dir = IndexDir();
        var vector = new Option<string>("--vector") { Description = "comma-separated query components", Required = true };
        var k = new Option<int>("-k") { Description = "how many adapters", DefaultValueFactory = _ => 10 };
        var ef = new Option<int?>("--ef") { Description = "candidate list size for this query" };
        var tags = new Option<string[]>("--tag") { Description = "required tag (repeatable)", AllowMultipleArgumentsPerToken = true };
        var tenant = new Option<string?>("--tenant") { Description = "only this tenant's adapters" };
        var json = Json();
        var cmd = new Command("search", "Find the nearest adapters to a query embedding") { dir, vector, k, ef, tags, tenant, json };
        cmd.SetAction(r =>
        {
            using var index = AdapterIndex.Open(r.GetValue(dir)!);
            var filter = (r.GetValue(tags) is { Length: > 0 } t) || r.GetValue(tenant) != null
                ? new IndexFilter { AllOf = r.GetValue(tags) ?? [], Tenant = r.GetValue(tenant) } : null;
            var hits = index.Search(ParseVector(r.GetValue(vector)!), r.GetValue(k), filter, r.GetValue(ef));
            if (r.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(hits.Select(h => new { adapter = h.Adapter, distance = h.Distance })));
                return 0;
            }
            var table = new Table().AddColumns("rank", "adapter", $"distance ({index.Metric})");
            for (int i = 0; i < hits.Count; i++) table.AddRow((i + 1).ToString(), Markup.Escape(hits[i].Adapter), hits[i].Distance.ToString("G6", CultureInfo.InvariantCulture));
            AnsiConsole.Write(table);
            return 0;
        });
        return cmd;
    }

    private static Command Stats()
    {
        var dir = IndexDir();
        var json = Json();
        var cmd = new Command("stats", "Show the index's size, settings and memory") { dir, json };
        cmd.SetAction(r =>
        {
            using var index = AdapterIndex.Open(r.GetValue(dir)!);
            var s = index.Stats();
            if (r.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new { stats = s, recovery = index.Recovery }, new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            Console.WriteLine($"{s.Count} adapters ({s.Deleted} deleted slots), {s.Dimensions}-d {s.Metric}, M={s.M} efConstruction={s.EfConstruction} efSearch={s.EfSearch}{(s.QuantizedInt8 ? " int8" : "")}");
            Console.WriteLine($"memory: vectors {s.VectorBytesHot:N0} B hot / {s.VectorBytesExact:N0} B exact, links {s.LinkBytes:N0} B; top level {s.MaxLevel}; log records since snapshot {s.WalRecords}");
            var rec = index.Recovery;
            Console.WriteLine($"opened from {rec.Snapshot}; replayed {rec.RecordsReplayed} log records; dropped {rec.DroppedLogBytes} torn bytes{(rec.GraphRebuilt ? "; graph rebuilt" : "")}");
            return 0;
        });
        return cmd;
    }
}

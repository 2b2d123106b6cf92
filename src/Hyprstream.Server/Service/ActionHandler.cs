using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Hyprstream.Flight.Grpc;
using Hyprstream.Flight.Protocol;
using Hyprstream.Runtime;

namespace Hyprstream.Server.Service;

/// <summary>
/// DoAction and ListActions: adapter operations with JSON bodies and one JSON Result each (documented in the
/// README, "Flight actions"). Every action that changes an adapter returns after the change is saved.
/// </summary>
public sealed class ActionHandler(IAdapterStore store, ServiceStats stats, IndexService? index = null)
{
    private static readonly (string Type, string Description)[] Actions =
    [
        ("merge", "{\"target\", \"source\", \"scale\"=1}: target += scale * source (effective deltas), saved"),
        ("fuse", "{\"name\", \"sources\": [..], \"weights\": [..]}: a new adapter sum(w_i * a_i), saved"),
        ("prune", "{\"adapter\", \"tolerance\"}: drop weights with |w| <= tolerance, saved; returns removed"),
        ("keep-top", "{\"adapter\", \"fraction\", \"structure\"=\"tile\"|\"unstructured\"}: keep the largest weights per module, saved; returns retained energy"),
        ("save", "{\"adapter\"}: make sure every change is on disk; returns path and bytes"),
        ("delete", "{\"adapter\"}: remove from memory and delete its file"),
        ("stats", "{} or {\"adapter\"}: adapters, active weights, bytes in memory and on disk, updates per second"),
        ("load", "{\"adapter\"}: load (or reload) name.vdb from the data directory"),
        ("unload", "{\"adapter\"}: drop from memory, keep the file"),
        ("rescan", "{}: serve .vdb files added to the data directory since start"),
        ("index-upsert", "{\"adapter\", \"vector\": [..], \"tags\"=[], \"metric\"=\"cosine\"|\"l2\"|\"poincare\" (fixed by the first upsert)}: add or replace an adapter's embedding"),
        ("index-remove", "{\"adapter\"}: remove an adapter's embedding"),
        ("search", "{\"vector\": [..], \"k\"=10, \"metric\"?, \"ef\"?, \"filter\"={\"tags\": [..], \"any\": [..], \"tenant\"}}: nearest adapters and distances"),
    ];

    public async Task ListActionsAsync(GrpcServerCall call)
    {
        await call.ReadSingleAsync(Empty.Parser);
        foreach (var (type, description) in Actions) await call.WriteAsync(new ActionType { Type = type, Description = description });
    }

    public async Task DoActionAsync(GrpcServerCall call)
    {
        var action = await call.ReadSingleAsync(Hyprstream.Flight.Protocol.Action.Parser);
        JsonObject body;
        try
        {
            body = action.Body.IsEmpty ? new JsonObject() : JsonNode.Parse(action.Body.Memory.Span) as JsonObject
                ?? throw ErrorMapping.Invalid($"action '{action.Type}' body must be a JSON object");
        }
        catch (JsonException e) { throw ErrorMapping.Invalid($"action '{action.Type}' body is not JSON: {e.Message}"); }
        object result = action.Type switch
        {
            "merge" => await MergeAsync(body, call.CancellationToken),
            "fuse" => await FuseAsync(body, call.CancellationToken),
            "prune" => await MutateAsync(body, a => new { removed = a.Prune(Float(body, "tolerance")) }),
            "keep-top" => await MutateAsync(body, a => new { energy = a.KeepTopFraction(Double(body, "fraction"), Structure(body)) }),
            "save" => await SaveAsync(body),
            "delete" => new { deleted = store.Delete(Name(body)) },
            "stats" => Stats(body),
            "load" => Loaded(store.Load(Name(body))),
            "unload" => new { unloaded = store.Unload(Name(body)) },
            "rescan" => Rescan(),
            "index-upsert" => Indexes().Upsert(body),
            "index-remove" => Indexes().Remove(body),
            "search" => Indexes().Search(body),
            _ => throw new GrpcException(GrpcStatusCode.InvalidArgument, $"unknown action '{action.Type}' (ListActions lists them)"),
        };
        await call.WriteAsync(new Result { Body = ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(result)) });
    }

    private IndexService Indexes() => index ?? throw new GrpcException(GrpcStatusCode.Unimplemented, "this server has no adapter index");

    private AdapterEntry Entry(string name) => store.Find(AdapterNames.ValidateAdapter(name)) ?? throw ErrorMapping.NotFound($"no adapter '{name}'");

    private async Task<object> MutateAsync(JsonObject body, Func<SparseAdapter, object> change)
    {
        var e = Entry(Name(body));
        object result;
        await e.Gate.WaitAsync();
        try
        {
            result = change(e.Adapter);
            e.Changed();
        }
        finally { e.Gate.Release(); }
        await store.PersistAsync(e, CancellationToken.None);
        return result;
    }

    private async Task<object> MergeAsync(JsonObject body, CancellationToken ct)
    {
        var target = Entry(Str(body, "target"));
        var source = Entry(Str(body, "source"));
        float scale = body.ContainsKey("scale") ? Float(body, "scale") : 1f;
        // Only the target's gate: the source is read under its own lock inside MergeFrom.
        await target.Gate.WaitAsync(ct);
        try
        {
            target.Adapter.MergeFrom(source.Adapter, scale);
            target.Changed();
        }
        finally { target.Gate.Release(); }
        await store.PersistAsync(target, CancellationToken.None);
        return new { target = target.Name, active = target.Adapter.ActiveCount };
    }

    private async Task<object> FuseAsync(JsonObject body, CancellationToken ct)
    {
        var name = AdapterNames.ValidateAdapter(Str(body, "name"));
        var sources = (body["sources"] as JsonArray ?? throw ErrorMapping.Invalid("\"sources\" must be an array of adapter names"))
            .Select(n => Entry(n?.GetValue<string>() ?? "")).ToList();
        var weights = (body["weights"] as JsonArray ?? throw ErrorMapping.Invalid("\"weights\" must be an array of numbers"))
            .Select(n => n?.GetValue<float>() ?? throw ErrorMapping.Invalid("weights must be numbers")).ToList();
        if (store.Find(name) != null) throw new GrpcException(GrpcStatusCode.AlreadyExists, $"adapter '{name}' already exists");
        var fused = SparseAdapter.Fuse(name, sources.Select(s => s.Adapter).ToList(), weights);
        var entry = store.GetOrAdd(name, () => fused, out bool created);
        if (!created)
        {
            fused.Dispose();
            throw new GrpcException(GrpcStatusCode.AlreadyExists, $"adapter '{name}' already exists");
        }
        await store.PersistAsync(entry, ct);
        return new { name, active = fused.ActiveCount };
    }

    private async Task<object> SaveAsync(JsonObject body)
    {
        var e = Entry(Name(body));
        await store.PersistAsync(e, CancellationToken.None);
        return new { adapter = e.Name, path = Path.Combine(store.DataDirectory, e.Name + ".vdb"), bytes = store.DiskBytes(e.Name) };
    }

    private object Stats(JsonObject body)
    {
        var entries = body.ContainsKey("adapter") ? [Entry(Name(body))] : store.Loaded;
        var per = entries.Select(e => new
        {
            adapter = e.Name,
            modules = e.Adapter.Modules.Count,
            active_weights = e.Adapter.ActiveCount,
            memory_bytes = e.Adapter.MemoryBytes,
            disk_bytes = store.DiskBytes(e.Name),
        }).ToList();
        return new
        {
            adapters = per.Count,
            active_weights = per.Sum(p => p.active_weights),
            memory_bytes = per.Sum(p => p.memory_bytes),
            disk_bytes = per.Sum(p => p.disk_bytes),
            weights_written = stats.WeightsWritten,
            put_batches = stats.Batches,
            updates_per_second = Math.Round(stats.UpdatesPerSecond, 1),
            uptime_seconds = Math.Round(stats.UptimeSeconds, 1),
            per_adapter = per,
        };
    }

    private static object Loaded(AdapterEntry e) => new { adapter = e.Name, modules = e.Adapter.Modules.Count, active = e.Adapter.ActiveCount };

    private object Rescan()
    {
        var (loaded, failed) = store.Rescan();
        return new { loaded, failed };
    }

    private static string Name(JsonObject b) => Str(b, "adapter");

    private static string Str(JsonObject b, string key) =>
        b[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw ErrorMapping.Invalid($"the body needs a string \"{key}\"");

    private static double Double(JsonObject b, string key) =>
        b[key] is JsonValue v && v.TryGetValue<double>(out var d) ? d : throw ErrorMapping.Invalid($"the body needs a number \"{key}\"");

    private static float Float(JsonObject b, string key) => (float)Double(b, key);

    private static SparsityStructure Structure(JsonObject b) => b["structure"]?.GetValue<string>() switch
    {
        null or "tile" => SparsityStructure.Tile,
        "unstructured" => SparsityStructure.Unstructured,
        var s => throw ErrorMapping.Invalid($"unknown structure '{s}' (tile or unstructured)"),
    };
}

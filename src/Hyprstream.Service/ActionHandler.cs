using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Grpc.Core;
using Hyprstream.Flight;
using Hyprstream.Flight.Protocol;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Store;
using static Hyprstream.Service.JsonFields;

namespace Hyprstream.Service;

/// <summary>
/// DoAction and ListActions: adapter operations with JSON bodies and one JSON Result each (documented in the
/// README, "Flight actions"). Every action that changes an adapter is one record of the store's write-ahead log and
/// returns once that record is durable.
/// </summary>
public sealed class ActionHandler(ServiceStore data, ServiceStats stats, IndexService? index = null)
{
    private AdapterStore Store => data.Store;

    private static readonly (string Type, string Description)[] Actions =
    [
        ("merge", "{\"target\", \"source\", \"scale\"=1}: target += scale * source (effective deltas), durable"),
        ("fuse", "{\"name\", \"sources\": [..], \"weights\": [..]}: a new adapter sum(w_i * a_i), durable"),
        ("prune", "{\"adapter\", \"tolerance\"}: drop weights with |w| <= tolerance, durable; returns removed"),
        ("keep-top", "{\"adapter\", \"fraction\", \"structure\"=\"tile\"|\"unstructured\"}: keep the largest weights per module, durable; returns retained energy"),
        ("save", "{\"adapter\"}: write the adapter's current state to name.vdb in the data directory; returns path and bytes"),
        ("delete", "{\"adapter\"}: remove it from the store (durable) and delete name.vdb"),
        ("stats", "{} or {\"adapter\"}: adapters, active weights, bytes, updates per second, cache tiers, WAL and recovery"),
        ("load", "{\"adapter\"}: import name.vdb from the data directory (replacing the stored adapter); without the file, bring the stored adapter into memory"),
        ("unload", "{\"adapter\"}: drop it from every cache tier (it stays in the store, read again on next use)"),
        ("pin", "{\"adapter\"}: keep it decoded in memory (L1), never evicted"),
        ("unpin", "{\"adapter\"}: let it be evicted again"),
        ("prefetch", "{\"adapter\"}: load it into memory (L1) ahead of use"),
        ("checkpoint", "{}: fold the write-ahead log into checkpoints now"),
        ("rescan", "{}: import .vdb files added to the data directory since start"),
        ("index-upsert", "{\"adapter\", \"vector\": [..], \"tags\"=[], \"metric\"=\"cosine\"|\"l2\"|\"poincare\" (fixed by the first upsert)}: add or replace a stored adapter's embedding"),
        ("index-remove", "{\"adapter\"}: remove an adapter's embedding"),
        ("search", "{\"vector\": [..], \"k\"=10, \"metric\"?, \"ef\"?, \"filter\"={\"tags\": [..], \"any\": [..], \"tenant\"}}: nearest adapters and distances"),
    ];

    public async Task ListActions(Empty request, IServerStreamWriter<ActionType> responses, ServerCallContext context)
    {
        foreach (var (type, description) in Actions) await responses.WriteAsync(new ActionType { Type = type, Description = description });
    }

    public async Task DoAction(Hyprstream.Flight.Protocol.Action action, IServerStreamWriter<Result> responses, ServerCallContext context)
    {
        JsonObject body;
        try
        {
            body = action.Body.IsEmpty ? new JsonObject() : JsonNode.Parse(action.Body.Memory.Span) as JsonObject
                ?? throw ErrorMapping.Invalid($"action {StatusText.Quote(action.Type)}: the body must be a JSON object");
        }
        catch (JsonException e) { throw ErrorMapping.Invalid($"action {StatusText.Quote(action.Type)}: the body is not JSON: {e.Message}"); }
        object result = action.Type switch
        {
            "merge" => await MergeAsync(body),
            "fuse" => await FuseAsync(body),
            "prune" => await ChangeAsync(Name(body), new AdapterBatch().Prune(Float(body, "tolerance")), o => new { removed = o.Removed }),
            "keep-top" => await ChangeAsync(Name(body), new AdapterBatch().KeepTop(Float(body, "fraction"), Structure(body)), o => new { energy = o.RetainedEnergy }),
            "save" => await Offload(() => Save(body)),
            "delete" => await Offload(() => new { deleted = data.Delete(Name(body)) }),
            "stats" => Stats(body),
            "load" => await Offload(() => Load(body)),
            "unload" => await Offload(() => new { unloaded = Store.Evict(Known(body)), tier = Tier(Name(body)) }),
            "pin" => await Offload(() => { Store.Pin(Known(body)); return new { pinned = true, tier = Tier(Name(body)) }; }),
            "unpin" => await Offload(() => { Store.Unpin(Known(body)); return new { pinned = false, tier = Tier(Name(body)) }; }),
            "prefetch" => await Offload(() => { Store.Prefetch(Known(body)); return new { tier = Tier(Name(body)) }; }),
            "checkpoint" => await Offload(Checkpoint),
            "rescan" => await Offload(Rescan),
            "index-upsert" => Indexes().Upsert(body, Store.Contains),
            "index-remove" => Indexes().Remove(body),
            "search" => Indexes().Search(body),
            _ => throw ErrorMapping.Status(StatusCode.InvalidArgument, $"unknown action {StatusText.Quote(action.Type)} (ListActions lists them)"),
        };
        await responses.WriteAsync(new Result { Body = ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(result)) });
    }

    /// <summary>Runs blocking store work (file reads, fsync waits) off the request's thread.</summary>
    private static Task<object> Offload(Func<object> work) => Task.Run(work);

    private IndexService Indexes() => index ?? throw ErrorMapping.Status(StatusCode.Unimplemented, "this server has no adapter index");

    /// <summary>The body's adapter name, checked to exist (NotFound otherwise).</summary>
    private string Known(JsonObject body) => Known(Name(body));

    private string Known(string name) =>
        Store.Contains(AdapterNames.ValidateAdapter(name)) ? name : throw ErrorMapping.NotFound($"no adapter '{name}'");

    private string Tier(string name) => Store.TierOf(name)?.ToString() ?? "disk";

    /// <summary>Logs one batch against the adapter, waits until it is durable, and reports what it did.</summary>
    private async Task<object> ChangeAsync(string name, AdapterBatch batch, Func<BatchOutcome, object> result)
    {
        var staged = Store.Stage(Known(name), batch);
        await Store.WhenDurableAsync(staged.Seq);
        return result(staged.Outcome);
    }

    private async Task<object> MergeAsync(JsonObject body)
    {
        var target = Known(Str(body, "target"));
        var source = Known(Str(body, "source"));
        float scale = OptFloat(body, "scale") ?? 1f;
        var staged = await Task.Run(() => Store.StageMerge(target, source, scale));
        await Store.WhenDurableAsync(staged.Seq);
        return new { target, active = Store.Info(target).ActiveCount };
    }

    private async Task<object> FuseAsync(JsonObject body)
    {
        var name = AdapterNames.ValidateAdapter(Str(body, "name"));
        var sourceNames = Strings(body, "sources");
        var weights = Numbers(body, "weights").Select((w, i) => ToFloat(w, $"weights[{i}]")).ToList();
        if (sourceNames.Length == 0) throw ErrorMapping.Invalid("\"sources\" must name at least one adapter");
        if (weights.Count != sourceNames.Length)
            throw ErrorMapping.Invalid($"\"weights\" must hold one number per source ({sourceNames.Length}), not {weights.Count}");
        var sources = sourceNames.Select(Known).ToList();
        if (Store.Contains(name)) throw ErrorMapping.Status(StatusCode.AlreadyExists, $"adapter '{name}' already exists");
        return await Offload(() =>
        {
            var copies = new List<SparseAdapter>();
            try
            {
                foreach (var s in sources) copies.Add(Store.Get(s));
                using var fused = SparseAdapter.Fuse(name, copies, weights);
                try { Store.Create(name, fused.BaseModel, AdapterBatch.FromAdapter(fused)); }
                catch (InvalidOperationException e) when (Store.Contains(name))
                {
                    throw ErrorMapping.Status(StatusCode.AlreadyExists, e.Message);
                }
                return new { name, active = fused.ActiveCount };
            }
            finally { foreach (var c in copies) c.Dispose(); }
        });
    }

    private object Save(JsonObject body)
    {
        var name = Known(body);
        var (path, bytes) = data.Export(name);
        return new { adapter = name, path, bytes };
    }

    private object Load(JsonObject body)
    {
        var name = AdapterNames.ValidateAdapter(Name(body));
        string from;
        // A link counts as a file here, so that Import refuses it (links in the data directory are not followed).
        if (File.Exists(data.FileOf(name)) || ServiceStore.IsLink(data.FileOf(name)))
        {
            data.Import(name, replace: true);
            from = "file";
        }
        else if (Store.Contains(name))
        {
            Store.Prefetch(name);
            from = "store";
        }
        else throw ErrorMapping.NotFound($"no adapter '{name}' in the store and no '{name}.vdb' in the data directory");
        var info = Store.Info(name);
        return new { adapter = name, modules = info.Modules.Count, active = info.ActiveCount, from, tier = Tier(name) };
    }

    private object Checkpoint()
    {
        Store.Checkpoint();
        var st = Store.Stats();
        return new { checkpoints = st.Checkpoints, wal_bytes = st.WalBytes, snapshot_bytes = st.CheckpointBytes, last_sequence = st.LastSequence };
    }

    private object Stats(JsonObject body)
    {
        var names = OptStr(body, "adapter") is { } one ? [Known(one)] : Store.Names;
        var per = new List<(AdapterInfo Info, string Tier)>();
        foreach (var n in names)
        {
            try { per.Add((Store.Info(n), Tier(n))); }
            catch (KeyNotFoundException) { } // deleted meanwhile
        }
        var st = Store.Stats();
        return new
        {
            adapters = per.Count,
            active_weights = per.Sum(p => p.Info.ActiveCount),
            memory_bytes = per.Sum(p => p.Info.MemoryBytes),
            disk_bytes = st.CheckpointBytes + st.WalBytes,
            weights_written = stats.WeightsWritten,
            put_batches = stats.Batches,
            updates_per_second = Math.Round(stats.UpdatesPerSecond, 1),
            uptime_seconds = Math.Round(stats.UptimeSeconds, 1),
            store = StoreJson.Describe(st),
            per_adapter = per.Select(p => new
            {
                adapter = p.Info.Name,
                modules = p.Info.Modules.Count,
                active_weights = p.Info.ActiveCount,
                memory_bytes = p.Info.MemoryBytes,
                tier = p.Tier,
            }).ToList(),
        };
    }

    private object Rescan()
    {
        var (imported, failed) = data.Rescan();
        return new { loaded = imported, failed };
    }

    private static string Name(JsonObject b) => Str(b, "adapter");

    private static SparsityStructure Structure(JsonObject b) => OptStr(b, "structure") switch
    {
        null or "tile" => SparsityStructure.Tile,
        "unstructured" => SparsityStructure.Unstructured,
        var s => throw ErrorMapping.Invalid($"unknown structure {StatusText.Quote(s)} (tile or unstructured)"),
    };
}

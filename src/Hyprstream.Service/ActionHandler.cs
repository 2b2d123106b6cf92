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
/// returns once that record is durable. Each action has the least role that may run it (read: stats, search;
/// admin: checkpoint, rescan; write: the rest), checked before its body is read. A tenant caller names adapters
/// without its prefix and gets them back so (<see cref="Caller"/>); store-wide numbers are for unscoped callers.
/// </summary>
public sealed class ActionHandler(ServiceStore data, ServiceStats stats, IndexService? index = null, FlightMetrics? metrics = null,
    RemoteSources? sources = null)
{
    private AdapterStore Store => data.Store;

    private static readonly (string Type, Role Needs, string Description)[] Actions =
    [
        ("merge", Role.Write, "{\"target\", \"source\", \"scale\"=1}: target += scale * source (effective deltas), durable"),
        ("fuse", Role.Write, "{\"name\", \"sources\": [..], \"weights\": [..]}: a new adapter sum(w_i * a_i), durable"),
        ("prune", Role.Write, "{\"adapter\", \"tolerance\"}: drop weights with |w| <= tolerance, durable; returns removed"),
        ("keep-top", Role.Write, "{\"adapter\", \"fraction\", \"structure\"=\"tile\"|\"unstructured\"}: keep the largest weights per module, durable; returns retained energy"),
        ("save", Role.Write, "{\"adapter\"}: write the adapter's current state to name.vdb in the data directory; returns path and bytes"),
        ("delete", Role.Write, "{\"adapter\"}: remove it from the store (durable) and delete name.vdb"),
        ("stats", Role.Read, "{} or {\"adapter\"}: adapters, active weights, bytes, updates per second, cache tiers, WAL and recovery"),
        ("load", Role.Write, "{\"adapter\", \"uri\"?}: import name.vdb from the data directory, or the .vdb at uri (s3://bucket/key, under a --allow-source prefix), replacing the stored adapter; without either, bring the stored adapter into memory"),
        ("unload", Role.Write, "{\"adapter\"}: drop it from every cache tier (it stays in the store, read again on next use)"),
        ("pin", Role.Write, "{\"adapter\"}: keep it decoded in memory (L1), never evicted"),
        ("unpin", Role.Write, "{\"adapter\"}: let it be evicted again"),
        ("prefetch", Role.Write, "{\"adapter\"}: load it into memory (L1) ahead of use"),
        ("checkpoint", Role.Admin, "{}: fold the write-ahead log into checkpoints now"),
        ("rescan", Role.Admin, "{}: import .vdb files added to the data directory since start"),
        ("index-upsert", Role.Write, "{\"adapter\", \"vector\": [..], \"tags\"=[], \"metric\"=\"cosine\"|\"l2\"|\"poincare\" (fixed by the first upsert)}: add or replace a stored adapter's embedding"),
        ("index-remove", Role.Write, "{\"adapter\"}: remove an adapter's embedding"),
        ("index-config", Role.Admin, "{\"ef_search\"?, \"ef_construction\"?, \"M\"?, \"wait\"=false}: tune the index; a new M rebuilds the graph in the background while the old one serves; returns the index's stats"),
        ("search", Role.Read, "{\"vector\": [..], \"k\"=10, \"metric\"?, \"ef\"?, \"filter\"={\"tags\": [..], \"any\": [..], \"tenant\"}}: nearest adapters and distances"),
    ];

    public async Task ListActions(Empty request, IServerStreamWriter<ActionType> responses, ServerCallContext context)
    {
        foreach (var (type, _, description) in Actions) await responses.WriteAsync(new ActionType { Type = type, Description = description });
    }

    public async Task DoAction(Hyprstream.Flight.Protocol.Action action, IServerStreamWriter<Result> responses, ServerCallContext context)
    {
        var caller = Caller.Of(context);
        foreach (var (type, needs, _) in Actions)
            if (type == action.Type) caller.Require(needs, $"action '{type}'");
        if (ServiceFollowing.Changes(action.Type)) data.RefuseWritesOnFollower($"action '{action.Type}'");
        JsonObject body;
        try
        {
            body = action.Body.IsEmpty ? new JsonObject() : JsonNode.Parse(action.Body.Memory.Span) as JsonObject
                ?? throw ErrorMapping.Invalid($"action {StatusText.Quote(action.Type)}: the body must be a JSON object");
        }
        catch (JsonException e) { throw ErrorMapping.Invalid($"action {StatusText.Quote(action.Type)}: the body is not JSON: {e.Message}"); }
        object result = action.Type switch
        {
            "merge" => await MergeAsync(body, caller),
            "fuse" => await FuseAsync(body, caller),
            "prune" => await ChangeAsync(Known(body, caller), new AdapterBatch().Prune(Float(body, "tolerance")), o => new { removed = o.Removed }),
            "keep-top" => await ChangeAsync(Known(body, caller), new AdapterBatch().KeepTop(Float(body, "fraction"), Structure(body)), o => new { energy = o.RetainedEnergy }),
            "save" => await Offload(() => Save(body, caller)),
            "delete" => await Offload(() => new { deleted = data.Delete(caller.In(Name(body))) }),
            "stats" => Stats(body, caller),
            "load" => OptStr(body, "uri") is { } uri ? await LoadFromAsync(body, uri, caller) : await Offload(() => Load(body, caller)),
            "unload" => await Offload(() => { var n = Known(body, caller); return new { unloaded = Store.Evict(n), tier = Tier(n) }; }),
            "pin" => await Offload(() => { var n = Known(body, caller); Store.Pin(n); return new { pinned = true, tier = Tier(n) }; }),
            "unpin" => await Offload(() => { var n = Known(body, caller); Store.Unpin(n); return new { pinned = false, tier = Tier(n) }; }),
            "prefetch" => await Offload(() => { var n = Known(body, caller); Store.Prefetch(n); return new { tier = Tier(n) }; }),
            "checkpoint" => await Offload(Checkpoint),
            "rescan" => await Offload(Rescan),
            "index-upsert" => await Offload(() => Indexes().Upsert(body, Store.Contains, caller)),
            "index-config" => await Offload(() => Indexes().Configure(body)),
            "index-remove" => await Offload(() => Indexes().Remove(body, caller)),
            "search" => Search(body, caller),
            _ => throw ErrorMapping.Status(StatusCode.InvalidArgument, $"unknown action {StatusText.Quote(action.Type)} (ListActions lists them)"),
        };
        await responses.WriteAsync(new Result { Body = ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(result)) });
    }

    /// <summary>Runs blocking store work (file reads, fsync waits) off the request's thread.</summary>
    private static Task<object> Offload(Func<object> work) => Task.Run(work);

    private object Search(JsonObject body, Caller caller)
    {
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        var found = Indexes().Search(body, caller);
        metrics?.Searched(started);
        return found;
    }

    private IndexService Indexes() => index ?? throw ErrorMapping.Status(StatusCode.Unimplemented, "this server has no adapter index");

    /// <summary>The stored name of the body's adapter, checked to exist (NotFound otherwise).</summary>
    private string Known(JsonObject body, Caller caller) => Known(Name(body), caller);

    /// <summary>
    /// The stored name of an adapter the caller names, checked to exist. Another tenant's adapter cannot be named,
    /// so it answers exactly as a missing one: the message names what the caller sent.
    /// </summary>
    private string Known(string name, Caller caller)
    {
        var stored = caller.In(name);
        return Store.Contains(stored) ? stored : throw ErrorMapping.NotFound($"no adapter '{name}'");
    }

    private string Tier(string name) => Store.TierOf(name)?.ToString() ?? "disk";

    /// <summary>Logs one batch against the adapter, waits until it is durable, and reports what it did.</summary>
    private async Task<object> ChangeAsync(string stored, AdapterBatch batch, Func<BatchOutcome, object> result)
    {
        var staged = Store.Stage(stored, batch);
        await Store.WhenDurableAsync(staged.Seq);
        return result(staged.Outcome);
    }

    private async Task<object> MergeAsync(JsonObject body, Caller caller)
    {
        var target = Known(Str(body, "target"), caller);
        var source = Known(Str(body, "source"), caller);
        float scale = OptFloat(body, "scale") ?? 1f;
        var staged = await Task.Run(() => Store.StageMerge(target, source, scale));
        await Store.WhenDurableAsync(staged.Seq);
        return new { target = caller.Out(target), active = Store.Info(target).ActiveCount };
    }

    private async Task<object> FuseAsync(JsonObject body, Caller caller)
    {
        var shown = Str(body, "name");
        var name = caller.In(shown);
        var sourceNames = Strings(body, "sources");
        var weights = Numbers(body, "weights").Select((w, i) => ToFloat(w, $"weights[{i}]")).ToList();
        if (sourceNames.Length == 0) throw ErrorMapping.Invalid("\"sources\" must name at least one adapter");
        if (weights.Count != sourceNames.Length)
            throw ErrorMapping.Invalid($"\"weights\" must hold one number per source ({sourceNames.Length}), not {weights.Count}");
        var sources = sourceNames.Select(n => Known(n, caller)).ToList();
        if (Store.Contains(name)) throw ErrorMapping.Status(StatusCode.AlreadyExists, $"adapter '{shown}' already exists");
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
                return new { name = shown, active = fused.ActiveCount };
            }
            finally { foreach (var c in copies) c.Dispose(); }
        });
    }

    private object Save(JsonObject body, Caller caller)
    {
        var name = Known(body, caller);
        var (path, bytes) = data.Export(name);
        return new { adapter = caller.Out(name), path, bytes };
    }

    private object Load(JsonObject body, Caller caller)
    {
        var name = caller.In(Name(body));
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
        return new { adapter = caller.Out(name), modules = info.Modules.Count, active = info.ActiveCount, from, tier = Tier(name) };
    }

    /// <summary>`load` with a uri: the .vdb is streamed from the object store to a temp file, then imported (one WAL record).</summary>
    private async Task<object> LoadFromAsync(JsonObject body, string uri, Caller caller)
    {
        var name = caller.In(Name(body));
        var remote = sources ?? throw ErrorMapping.Denied("this server reads no adapters from object stores");
        var at = remote.Check(uri);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Hyprstream.Replication.AdapterSources.Download download;
        try { download = await Hyprstream.Replication.AdapterSources.FileAsync(at, remote.Settings); }
        catch (FileNotFoundException e) { throw ErrorMapping.NotFound(e.Message); }
        catch (IOException e) { throw ErrorMapping.Status(StatusCode.Unavailable, e.Message); }
        using (download)
        {
            long bytes = new FileInfo(download.Path).Length;
            await Offload(() => { data.ImportFile(name, download.Path, replace: true); return 0; });
            var info = Store.Info(name);
            return new { adapter = caller.Out(name), modules = info.Modules.Count, active = info.ActiveCount, from = uri, bytes, seconds = sw.Elapsed.TotalSeconds, tier = Tier(name) };
        }
    }

    private object Checkpoint()
    {
        Store.Checkpoint();
        var st = Store.Stats();
        return new { checkpoints = st.Checkpoints, wal_bytes = st.WalBytes, snapshot_bytes = st.CheckpointBytes, last_sequence = st.LastSequence };
    }

    private object Stats(JsonObject body, Caller caller)
    {
        var names = OptStr(body, "adapter") is { } one ? [Known(one, caller)] : Store.Names.Where(caller.Owns).ToList();
        var per = new List<(AdapterInfo Info, string Tier)>();
        foreach (var n in names)
        {
            try { per.Add((Store.Info(n), Tier(n))); }
            catch (KeyNotFoundException) { } // deleted meanwhile
        }
        var perAdapter = per.Select(p => new
        {
            adapter = caller.Out(p.Info.Name),
            modules = p.Info.Modules.Count,
            active_weights = p.Info.ActiveCount,
            memory_bytes = p.Info.MemoryBytes,
            tier = p.Tier,
        }).ToList();
        if (caller.Scoped)
        {
            // A tenant's numbers only: the store's files, log and cache are shared, so they are not shown.
            var mine = stats.For(caller.Tenant!);
            return new
            {
                tenant = caller.Tenant,
                adapters = per.Count,
                active_weights = per.Sum(p => p.Info.ActiveCount),
                memory_bytes = per.Sum(p => p.Info.MemoryBytes),
                weights_written = mine.WeightsWritten,
                put_batches = mine.Batches,
                updates_per_second = Math.Round(mine.UpdatesPerSecond, 1),
                uptime_seconds = Math.Round(stats.UptimeSeconds, 1),
                per_adapter = perAdapter,
            };
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
            index = index?.Stats(caller),
            replication = data.ReplicationStats(),
            per_adapter = perAdapter,
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

using System.Text.Json;
using Apache.Arrow;
using Google.Protobuf;
using Grpc.Core;
using Hyprstream.Flight;
using Hyprstream.Flight.Ipc;
using Hyprstream.Flight.Protocol;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Index;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Service;

/// <summary>
/// Adapters as Arrow Flight flights, in two forms: rows (path ["adapters", name] and ["adapters", name, module])
/// and tiles (["tiles", name] and ["tiles", name, module]); a CMD descriptor holding a ticket's JSON describes a
/// flight with options (dtype, scaled, compression). DoGet streams stored weights in bounded batches; DoPut and
/// DoAction are in <see cref="PutHandler"/> and <see cref="ActionHandler"/>. Holds no storage logic: everything
/// goes through the durable <see cref="AdapterStore"/> and the runtime API.
/// </summary>
public sealed class AdapterFlightService
{
    private readonly AdapterStore _store;
    private readonly IndexService? _index;

    public AdapterFlightService(ServiceStore data, ServiceStats stats, int batchRows = 16384, IndexService? index = null, FlightMetrics? metrics = null,
        ServiceNodes? nodes = null, RemoteSources? sources = null)
    {
        Data = data;
        _nodes = nodes;
        _store = data.Store;
        BatchRows = batchRows;
        _index = index;
        _metrics = metrics;
        Put = new PutHandler(data.Store, stats, metrics);
        Actions = new ActionHandler(data, stats, index, metrics, sources);
    }

    private readonly FlightMetrics? _metrics;
    private readonly ServiceNodes? _nodes;

    /// <summary>The data directory and its store (a follower's refuses writes: <see cref="ServiceStore.RefuseWritesOnFollower"/>).</summary>
    public ServiceStore Data { get; }

    public PutHandler Put { get; }
    public ActionHandler Actions { get; }

    /// <summary>Most rows in one row-form DoGet batch: ~1 MB messages, under every client's default 4 MiB limit.</summary>
    public int BatchRows { get; }

    /// <summary>Tiles in one tile-form DoGet batch: 256 × 2 KB, ~0.5 MB messages (measured fastest).</summary>
    public const int BatchTiles = 256;

    public async Task ListFlights(Criteria criteria, IServerStreamWriter<FlightInfo> responses, ServerCallContext context)
    {
        var caller = Caller.Of(context);
        var prefix = criteria.Expression.ToStringUtf8();
        if (_index?.Index is { } idx && prefix.Length == 0 && (!caller.Scoped || _index.CountFor(idx, caller) > 0))
            await responses.WriteAsync(DescribeIndex(idx, caller));
        foreach (var name in _store.Names)
        {
            // A tenant lists only its own adapters, by the names it knows them by (the prefix applies to those).
            if (!caller.Owns(name)) continue;
            if (prefix.Length > 0 && !caller.Out(name).StartsWith(prefix, StringComparison.Ordinal)) continue;
            AdapterInfo a;
            try { a = Shown(_store.Info(name), caller); }
            catch (KeyNotFoundException) { continue; } // deleted while listing
            foreach (var form in new[] { WeightSchema.RowForm, WeightSchema.TileForm })
            {
                await responses.WriteAsync(Describe(a, null, new FlightTicket(a.Name, null, form)));
                foreach (var m in a.Modules) await responses.WriteAsync(Describe(a, m, new FlightTicket(a.Name, m.Name, form)));
            }
        }
    }

    public Task<FlightInfo> GetFlightInfo(FlightDescriptor d, ServerCallContext context)
    {
        var caller = Caller.Of(context);
        if (IsIndex(d)) return Task.FromResult(DescribeIndex(RequireIndex(caller), caller));
        var (stored, adapter, module, ticket) = Resolve(d, caller);
        var info = Describe(adapter, module, ticket);
        // With --advertise: every live node that has applied the adapter's last change serves the ticket (replicas).
        if (_nodes?.Serving(stored) is { Count: > 0 } at)
            info.Endpoint[0].Location.AddRange(at.Select(uri => new Location { Uri = uri }));
        return Task.FromResult(info);
    }

    public Task<SchemaResult> GetSchema(FlightDescriptor d, ServerCallContext context)
    {
        var caller = Caller.Of(context);
        Schema schema;
        if (IsIndex(d)) schema = _index!.Schema(RequireIndex(caller));
        else
        {
            var (_, adapter, module, ticket) = Resolve(d, caller);
            schema = SchemaFor(adapter, module, ticket);
        }
        return Task.FromResult(new SchemaResult { Schema = ByteString.CopyFrom(SchemaBytes.Encode(schema)) });
    }

    // ---- the index flight: PATH ["index"], ticket {"index": true} ----

    private static bool IsIndex(FlightDescriptor d) =>
        d.Type == FlightDescriptor.Types.DescriptorType.Path && d.Path.Count == 1 && d.Path[0] == IndexService.Flight;

    /// <summary>The index, when it holds embeddings this caller may see (for a tenant: any of its own).</summary>
    private AdapterIndex RequireIndex(Caller caller) =>
        _index?.Index is { } index && (!caller.Scoped || _index.CountFor(index, caller) > 0) ? index
            : throw ErrorMapping.NotFound(IndexService.NoIndex);

    private FlightInfo DescribeIndex(AdapterIndex index, Caller caller)
    {
        long count = _index!.CountFor(index, caller);
        var info = new FlightInfo
        {
            Schema = ByteString.CopyFrom(SchemaBytes.Encode(_index!.Schema(index))),
            FlightDescriptor = new FlightDescriptor { Type = FlightDescriptor.Types.DescriptorType.Path, Path = { IndexService.Flight } },
            TotalRecords = count,
            TotalBytes = count * index.Dimensions * 4,
            AppMetadata = ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(new { metric = index.Metric.Name(), dimensions = index.Dimensions })),
        };
        info.Endpoint.Add(new FlightEndpoint { Ticket = new Ticket { Ticket_ = ByteString.CopyFromUtf8("{\"index\":true}") } });
        return info;
    }

    private static bool IsIndexTicket(ReadOnlySpan<byte> ticket)
    {
        try
        {
            using var doc = JsonDocument.Parse(ticket.ToArray());
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty(IndexService.Flight, out _);
        }
        catch (JsonException) { return false; }
    }

    private async Task StreamIndexAsync(IServerStreamWriter<FlightData> responses, ServerCallContext context, Caller caller)
    {
        var index = RequireIndex(caller);
        var schema = _index!.Schema(index);
        using var writer = new FlightDataWriter(schema, responses.WriteAsync);
        await writer.WriteSchemaAsync(context.CancellationToken);
        foreach (var batch in _index.Batches(index, BatchRows, caller))
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            await writer.WriteAsync(batch, ct: context.CancellationToken);
        }
    }

    /// <summary>
    /// PATH ["adapters"|"tiles", name(, module)], or CMD with a ticket's JSON: the stored name, and the adapter, module
    /// and ticket as the caller names them.
    /// </summary>
    private (string Stored, AdapterInfo, ModuleInfo?, FlightTicket) Resolve(FlightDescriptor d, Caller caller)
    {
        FlightTicket ticket;
        if (d.Type == FlightDescriptor.Types.DescriptorType.Cmd)
        {
            try { ticket = FlightTicket.Parse(d.Cmd.Span); }
            catch (ArgumentException e) { throw ErrorMapping.Invalid($"CMD descriptor: {e.Message}"); }
        }
        else if (d.Type == FlightDescriptor.Types.DescriptorType.Path && d.Path.Count is 2 or 3 && d.Path[0] is "adapters" or "tiles")
            ticket = new FlightTicket(d.Path[1], d.Path.Count == 3 ? d.Path[2] : null, d.Path[0] == "tiles" ? WeightSchema.TileForm : WeightSchema.RowForm);
        else
            throw ErrorMapping.Invalid("descriptor must be a PATH [\"adapters\" or \"tiles\", name(, module)] or a CMD holding a ticket's JSON");
        var (stored, info, module) = Lookup(ticket.Adapter, ticket.Module, caller);
        return (stored, info, module, ticket);
    }

    /// <summary>
    /// The stored name and the adapter as the caller sees it. A name outside the caller's tenant cannot be named at
    /// all (<see cref="Caller.In"/>), so another tenant's adapter answers exactly as a missing one.
    /// </summary>
    private (string Stored, AdapterInfo, ModuleInfo?) Lookup(string name, string? module, Caller caller)
    {
        var stored = caller.In(name);
        if (!_store.Contains(stored)) throw ErrorMapping.NotFound($"no adapter '{name}'");
        var info = Shown(_store.Info(stored), caller);
        if (module == null) return (stored, info, null);
        return (stored, info, info.Modules.FirstOrDefault(m => m.Name == module) ?? throw ErrorMapping.NotFound($"adapter '{name}' has no module {StatusText.Quote(module)}"));
    }

    /// <summary>The adapter under the caller's name for it (and its provenance in the caller's names).</summary>
    private static AdapterInfo Shown(AdapterInfo a, Caller caller) => !caller.Scoped ? a : a with
    {
        Name = caller.Out(a.Name),
        Provenance = a.Provenance.ToDictionary(p => p.Key, p => caller.TextOut(p.Value)),
    };

    private static Schema SchemaFor(AdapterInfo a, ModuleInfo? module, FlightTicket ticket)
    {
        var meta = new Dictionary<string, string> { ["hyprstream.adapter"] = a.Name, ["hyprstream.form"] = ticket.Form };
        if (a.BaseModel != null) meta["hyprstream.base_model"] = a.BaseModel;
        if (ticket.Scaled) meta["hyprstream.scaled"] = "true";
        if (ticket.Form == WeightSchema.TileForm) meta["hyprstream.dtype"] = FlightTicket.TypeName(ticket.Type);
        if (module != null)
        {
            meta["hyprstream.module"] = module.Name;
            meta["hyprstream.shape"] = $"{module.Rows}x{module.Cols}";
            meta["hyprstream.scale"] = module.Scale.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        }
        int modules = module == null ? a.Modules.Count : 1;
        return ticket.Form == WeightSchema.TileForm ? WeightSchema.Tiles(modules, ticket.Type, meta, ticket.Dictionary) : WeightSchema.Rows(modules, meta, ticket.Dictionary);
    }

    private static FlightInfo Describe(AdapterInfo a, ModuleInfo? module, FlightTicket ticket)
    {
        var modules = module == null ? a.Modules : [module];
        bool tiles = ticket.Form == WeightSchema.TileForm;
        long records = 0;
        var moduleMeta = new List<object>();
        foreach (var m in modules)
        {
            records += tiles ? m.TileCount : m.ActiveCount;
            moduleMeta.Add(new { name = m.Name, layer = m.Layer, rows = m.Rows, cols = m.Cols, scale = m.Scale, active = m.ActiveCount, tiles = m.TileCount });
        }
        var root = tiles ? "tiles" : "adapters";
        var path = module == null ? new[] { root, a.Name } : new[] { root, a.Name, module.Name };
        var appMeta = new
        {
            adapter = a.Name,
            form = ticket.Form,
            base_model = a.BaseModel,
            provenance = a.Provenance,
            metadata = a.Metadata,
            modules = moduleMeta,
        };
        // Flight's "unknown" (-1) when a module's tile count is not known (described from a file's metadata alone).
        if (tiles && modules.Any(m => m.TileCount < 0)) records = -1;
        long bytes = records < 0 ? -1 : tiles
            ? (long)(records * WeightSchema.TileSize * WeightSchema.BytesPerWeight(ticket.Form, ticket.Type, modules.Count))
            : (long)(records * WeightSchema.BytesPerWeight(ticket.Form, ticket.Type, modules.Count));
        var info = new FlightInfo
        {
            Schema = ByteString.CopyFrom(SchemaBytes.Encode(SchemaFor(a, module, ticket))),
            FlightDescriptor = new FlightDescriptor { Type = FlightDescriptor.Types.DescriptorType.Path, Path = { path } },
            TotalRecords = records,
            TotalBytes = bytes,
            Ordered = true,
            AppMetadata = ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(appMeta)),
        };
        // No location: redeem the ticket on this same server.
        info.Endpoint.Add(new FlightEndpoint { Ticket = new Ticket { Ticket_ = ByteString.CopyFrom(ticket.ToBytes()) } });
        return info;
    }

    public async Task DoGet(Ticket request, IServerStreamWriter<FlightData> responses, ServerCallContext context)
    {
        var caller = Caller.Of(context);
        if (IsIndexTicket(request.Ticket_.Span)) { await StreamIndexAsync(responses, context, caller); return; }
        var ticket = FlightTicket.Parse(request.Ticket_.Span);
        var (stored, info, module) = Lookup(ticket.Adapter, ticket.Module, caller);
        // The adapter stays resident (not evicted) while it streams; writers go on between cursor chunks.
        // An adapter no cache tier holds streams from its mapped snapshot file (nothing decoded, no grid built).
        using var reader = _store.OpenRead(stored);
        IReadOnlyList<IModuleSource> modules = module == null ? reader.Modules
            : [reader.Module(module.Name) ?? throw ErrorMapping.NotFound($"adapter '{info.Name}' has no module '{module.Name}'")];
        var schema = SchemaFor(info, module, ticket);
        var dictionary = Columns.Utf8(modules.Select(x => x.Name));
        using var writer = new FlightDataWriter(schema, responses.WriteAsync, compression: ticket.Compression);
        await writer.WriteSchemaAsync(context.CancellationToken);
        if (ticket.Form == WeightSchema.TileForm)
        {
            await TileStream.SendAsync(writer, schema, dictionary, modules, ticket, BatchTiles, context.CancellationToken);
            _metrics?.SentWeights(module?.ActiveCount ?? info.ActiveCount);
            return;
        }
        var builder = new WeightBatchBuilder(schema, dictionary, BatchRows);
        for (int i = 0; i < modules.Count; i++)
        {
            using var cursor = modules[i].OpenWeights();
            float scale = ticket.Scaled ? modules[i].Scale : 1f;
            while (builder.Fill(cursor, i, scale) > 0)
                if (builder.Full) await SendAsync(writer, builder, context.CancellationToken);
        }
        if (builder.Count > 0) await SendAsync(writer, builder, context.CancellationToken);
        // From the adapter's description (cached until its next change): counting the modules' active weights again
        // walks every leaf of a grid, a millisecond-scale cost per call that metrics-on DoGets paid (bench flight).
        _metrics?.SentWeights(module?.ActiveCount ?? info.ActiveCount);
    }

    private static async Task SendAsync(FlightDataWriter writer, WeightBatchBuilder builder, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        await writer.WriteAsync(builder.Build(), ct: ct); // the arrays are copied once this returns, so they can be refilled
        builder.Reset();
    }
}

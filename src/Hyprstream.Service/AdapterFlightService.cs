using System.Text.Json;
using Google.Protobuf;
using Hyprstream.Flight.Rpc;
using Hyprstream.Flight.Grpc;
using Hyprstream.Flight.Ipc;
using Hyprstream.Flight.Protocol;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Index;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Service;

/// <summary>
/// Adapters as Arrow Flight flights: one flight per adapter (path ["adapters", name]) and per module
/// (["adapters", name, module]); DoGet streams stored weights in bounded batches; DoPut and DoAction are in
/// <see cref="PutHandler"/> and <see cref="ActionHandler"/>. Holds no storage logic: everything goes through
/// the durable <see cref="AdapterStore"/> and the runtime API.
/// </summary>
public sealed class AdapterFlightService
{
    private readonly AdapterStore _store;
    private readonly PutHandler _put;
    private readonly ActionHandler _actions;
    private readonly IndexService? _index;

    public AdapterFlightService(ServiceStore data, ServiceStats stats, int batchRows = 16384, IndexService? index = null)
    {
        _store = data.Store;
        BatchRows = batchRows;
        _index = index;
        _put = new PutHandler(data.Store, stats);
        _actions = new ActionHandler(data, stats, index);
    }

    /// <summary>Most rows in one DoGet batch: ~1 MB messages, under every client's default 4 MiB limit, and measured fastest here.</summary>
    public int BatchRows { get; }

    public void MapTo(GrpcRouter router, TokenAuth auth)
    {
        router.Interceptor = auth.CheckAsync;
        var s = FlightPaths.Service;
        router.Map(s, "Handshake", ErrorMapping.Guard(auth.HandshakeAsync));
        router.Map(s, "ListFlights", ErrorMapping.Guard(ListFlightsAsync));
        router.Map(s, "GetFlightInfo", ErrorMapping.Guard(GetFlightInfoAsync));
        router.Map(s, "GetSchema", ErrorMapping.Guard(GetSchemaAsync));
        router.Map(s, "DoGet", ErrorMapping.Guard(DoGetAsync));
        router.Map(s, "DoPut", ErrorMapping.Guard(_put.DoPutAsync));
        router.Map(s, "DoAction", ErrorMapping.Guard(_actions.DoActionAsync));
        router.Map(s, "ListActions", ErrorMapping.Guard(_actions.ListActionsAsync));
    }

    private async Task ListFlightsAsync(GrpcServerCall call)
    {
        var criteria = await call.ReadSingleAsync(Criteria.Parser);
        var prefix = criteria.Expression.ToStringUtf8();
        if (_index?.Index is { } idx && prefix.Length == 0) await call.WriteAsync(DescribeIndex(idx));
        foreach (var name in _store.Names)
        {
            if (prefix.Length > 0 && !name.StartsWith(prefix, StringComparison.Ordinal)) continue;
            AdapterInfo a;
            try { a = _store.Info(name); }
            catch (KeyNotFoundException) { continue; } // deleted while listing
            await call.WriteAsync(Describe(a, null));
            foreach (var m in a.Modules) await call.WriteAsync(Describe(a, m));
        }
    }

    private async Task GetFlightInfoAsync(GrpcServerCall call)
    {
        var d = await call.ReadSingleAsync(FlightDescriptor.Parser);
        if (IsIndex(d)) { await call.WriteAsync(DescribeIndex(RequireIndex())); return; }
        var (adapter, module) = Resolve(d);
        await call.WriteAsync(Describe(adapter, module));
    }

    private async Task GetSchemaAsync(GrpcServerCall call)
    {
        var d = await call.ReadSingleAsync(FlightDescriptor.Parser);
        ArrowSchema schema;
        if (IsIndex(d)) schema = _index!.Schema(RequireIndex());
        else
        {
            var (adapter, module) = Resolve(d);
            schema = SchemaFor(adapter, module);
        }
        await call.WriteAsync(new SchemaResult { Schema = ByteString.CopyFrom(ArrowIpcWriter.EncapsulatedSchema(schema)) });
    }

    // ---- the index flight: PATH ["index"], ticket {"index": true} ----

    private static bool IsIndex(FlightDescriptor d) =>
        d.Type == FlightDescriptor.Types.DescriptorType.Path && d.Path.Count == 1 && d.Path[0] == IndexService.Flight;

    private AdapterIndex RequireIndex() =>
        _index?.Index ?? throw ErrorMapping.NotFound("there is no adapter index yet: add embeddings with the index-upsert action");

    private FlightInfo DescribeIndex(AdapterIndex index)
    {
        var info = new FlightInfo
        {
            Schema = ByteString.CopyFrom(ArrowIpcWriter.EncapsulatedSchema(_index!.Schema(index))),
            FlightDescriptor = new FlightDescriptor { Type = FlightDescriptor.Types.DescriptorType.Path, Path = { IndexService.Flight } },
            TotalRecords = index.Count,
            TotalBytes = (long)index.Count * index.Dimensions * 4,
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

    private async Task StreamIndexAsync(GrpcServerCall call)
    {
        var index = RequireIndex();
        var writer = await call.StartAsync();
        FlightDataEncoder.WriteSchema(writer, _index!.Schema(index));
        await call.FlushAsync();
        foreach (var batch in _index.Batches(index, BatchRows))
        {
            call.CancellationToken.ThrowIfCancellationRequested();
            FlightDataEncoder.WriteBatch(await call.StartAsync(), batch);
            await call.FlushAsync();
        }
    }

    /// <summary>PATH ["adapters", name] or ["adapters", name, module].</summary>
    private (AdapterInfo, ModuleInfo?) Resolve(FlightDescriptor d)
    {
        if (d.Type != FlightDescriptor.Types.DescriptorType.Path || d.Path.Count is < 2 or > 3 || d.Path[0] != "adapters")
            throw ErrorMapping.Invalid("descriptor must be a PATH [\"adapters\", name] or [\"adapters\", name, module]");
        return Lookup(d.Path[1], d.Path.Count == 3 ? d.Path[2] : null);
    }

    private (AdapterInfo, ModuleInfo?) Lookup(string name, string? module)
    {
        AdapterNames.ValidateAdapter(name);
        if (!_store.Contains(name)) throw ErrorMapping.NotFound($"no adapter '{name}'");
        var info = _store.Info(name);
        if (module == null) return (info, null);
        return (info, info.Modules.FirstOrDefault(m => m.Name == module) ?? throw ErrorMapping.NotFound($"adapter '{name}' has no module {StatusText.Quote(module)}"));
    }

    private static ArrowSchema SchemaFor(AdapterInfo a, ModuleInfo? module)
    {
        var meta = new Dictionary<string, string> { ["hyprstream.adapter"] = a.Name };
        if (a.BaseModel != null) meta["hyprstream.base_model"] = a.BaseModel;
        if (module != null)
        {
            meta["hyprstream.module"] = module.Name;
            meta["hyprstream.shape"] = $"{module.Rows}x{module.Cols}";
            meta["hyprstream.scale"] = module.Scale.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        }
        return WeightSchema.WithMetadata(meta);
    }

    private static FlightInfo Describe(AdapterInfo a, ModuleInfo? module)
    {
        var modules = module == null ? a.Modules : [module];
        long records = 0, bytes = 0;
        var moduleMeta = new List<object>();
        foreach (var m in modules)
        {
            records += m.ActiveCount;
            bytes += m.ActiveCount * WeightSchema.BytesPerWeight(m.Name);
            moduleMeta.Add(new { name = m.Name, layer = m.Layer, rows = m.Rows, cols = m.Cols, scale = m.Scale, active = m.ActiveCount });
        }
        var path = module == null ? new[] { "adapters", a.Name } : new[] { "adapters", a.Name, module.Name };
        var appMeta = new
        {
            adapter = a.Name,
            base_model = a.BaseModel,
            provenance = a.Provenance,
            metadata = a.Metadata,
            modules = moduleMeta,
        };
        var info = new FlightInfo
        {
            Schema = ByteString.CopyFrom(ArrowIpcWriter.EncapsulatedSchema(SchemaFor(a, module))),
            FlightDescriptor = new FlightDescriptor { Type = FlightDescriptor.Types.DescriptorType.Path, Path = { path } },
            TotalRecords = records,
            TotalBytes = bytes,
            Ordered = true,
            AppMetadata = ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(appMeta)),
        };
        // No location: redeem the ticket on this same server.
        info.Endpoint.Add(new FlightEndpoint { Ticket = new Ticket { Ticket_ = ByteString.CopyFrom(new WeightSchema.Ticket(a.Name, module?.Name).ToBytes()) } });
        return info;
    }

    private async Task DoGetAsync(GrpcServerCall call)
    {
        var ticket = await call.ReadSingleAsync(Ticket.Parser);
        if (IsIndexTicket(ticket.Ticket_.Span)) { await StreamIndexAsync(call); return; }
        var t = WeightSchema.Ticket.Parse(ticket.Ticket_.Span);
        var (info, module) = Lookup(t.Adapter, t.Module);
        // The adapter stays resident (not evicted) while it streams; writers go on between cursor chunks.
        using var reader = _store.OpenRead(info.Name);
        var adapter = reader.Adapter;
        var modules = module == null ? adapter.Modules.ToList()
            : [adapter.Modules.TryGet(module.Name, out var m) ? m : throw ErrorMapping.NotFound($"adapter '{info.Name}' has no module '{module.Name}'")];
        var writer = await call.StartAsync();
        FlightDataEncoder.WriteSchema(writer, SchemaFor(info, module));
        await call.FlushAsync();
        var builder = new WeightBatchBuilder(BatchRows);
        foreach (var mod in modules)
        {
            var name = WeightBatchBuilder.Utf8(mod.Name);
            using var cursor = mod.OpenCursor();
            while (builder.Fill(cursor, name) > 0)
                if (builder.Full) await SendAsync(call, builder);
        }
        if (builder.Count > 0) await SendAsync(call, builder);
    }

    private static async ValueTask SendAsync(GrpcServerCall call, WeightBatchBuilder builder)
    {
        call.CancellationToken.ThrowIfCancellationRequested();
        FlightDataEncoder.WriteBatch(await call.StartAsync(), builder.Build());
        await call.FlushAsync(); // the pipe has copied the arrays once this returns, so they can be refilled
        builder.Reset();
    }
}

using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Google.Protobuf;
using Apache.Arrow;
using Apache.Arrow.Types;
using Grpc.Core;
using Hyprstream.Flight;
using Hyprstream.Flight.Ipc;
using Hyprstream.Flight.Protocol;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Service;

/// <summary>
/// DoPut: record batches of `module, row, col, value` set or added into an adapter. Each batch becomes one record of
/// the store's write-ahead log: checked whole (columns, nulls, finite values here; modules, bounds and finite sums by
/// the store) before it is logged, then applied, so a bad batch changes nothing and concurrent writers lose no
/// update. A batch's PutResult is sent only once its record is durable under the store's fsync policy; while one
/// fsync runs, later batches are logged, and the next fsync covers them all (group commit).
/// </summary>
public sealed class PutHandler(AdapterStore store, ServiceStats stats, FlightMetrics? metrics = null)
{
    private sealed record PutCommand(string Adapter, string Mode, bool Create, string? BaseModel, List<ModuleSpec> Modules);
    private sealed record ModuleSpec(string Name, int Rows, int Cols, float Scale);

    /// <summary>The largest buffer a DoPut may make Arrow allocate (a body, or a buffer once decompressed).</summary>
    public long MaxBuffer { get; init; } = 256 << 20;

    public async Task DoPut(IAsyncStreamReader<Hyprstream.Flight.Rpc.PooledFlightData> requests, IServerStreamWriter<PutResult> responses, ServerCallContext context)
    {
        var caller = Caller.Of(context);
        caller.Require(Role.Write, "DoPut");
        using var reader = FlightDataReader.From(requests, MaxBuffer);
        Schema? schema;
        try { schema = await reader.ReadSchemaAsync(context.CancellationToken); }
        catch (InvalidDataException e) { throw ErrorMapping.Invalid($"bad schema message: {e.Message}"); }
        if (schema == null) throw ErrorMapping.Invalid("DoPut needs a first message with a descriptor and a schema");
        if (reader.Descriptor == null) throw ErrorMapping.Invalid("the first DoPut message carries no flight descriptor");
        // The adapter under its stored name from here on; the caller's name for it goes back in acknowledgements.
        var cmd = ParseDescriptor(reader.Descriptor, caller);
        var shown = caller.Out(cmd.Adapter);
        var form = CheckSchema(schema);

        await OpenAdapterAsync(cmd);
        var acks = Channel.CreateUnbounded<(ulong Seq, byte[] Ack)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var ackWriter = Task.Run(async () =>
        {
            var ready = new List<(ulong Seq, byte[] Ack)>();
            while (await acks.Reader.WaitToReadAsync())
            {
                while (acks.Reader.TryRead(out var a)) ready.Add(a);
                // One wait covers every batch logged so far: the WAL acknowledges in sequence order.
                await store.WhenDurableAsync(ready.Max(a => a.Seq));
                foreach (var (_, a) in ready) await responses.WriteAsync(new PutResult { AppMetadata = ByteString.CopyFrom(a) });
                ready.Clear();
            }
        });
        // Two stages, so that decoding batch k+1 (gRPC, Arrow, the values' copy and checks) overlaps logging and
        // applying batch k: this loop decodes, one logger task logs the decoded batches in order. A bad batch stops the
        // call where it is: every batch before it is logged and acknowledged, none after it.
        var decoded = Channel.CreateBounded<Decoded>(new BoundedChannelOptions(2) { SingleReader = true, SingleWriter = true });
        // Tile values arrays the logger is done with (the store keeps no reference once a batch is logged and applied):
        // a 256-tile batch's is 512 KB, and a new one per batch cost a large-object-heap allocation and fresh pages.
        var spare = new System.Collections.Concurrent.ConcurrentQueue<float[]>();
        var logger = Task.Run(async () =>
        {
            try
            {
                await foreach (var d in decoded.Reader.ReadAllAsync())
                {
                    var seq = Log(cmd.Adapter, d.Batch, d.Index);
                    if (d.Values != null) spare.Enqueue(d.Values);
                    stats.Written(d.Weights, caller.Tenant);
                    metrics?.Written(d.Weights);
                    var ack = JsonSerializer.SerializeToUtf8Bytes(new { batch = d.Index, rows = d.Rows, mode = d.Mode, adapter = shown, version = seq });
                    await acks.Writer.WriteAsync((seq, ack));
                }
            }
            catch (Exception e)
            {
                decoded.Writer.TryComplete(e); // the decoding loop stops at its next hand-off
                throw;
            }
        });
        try
        {
            int index = 0;
            while (!ackWriter.IsFaulted)
            {
                RecordBatch? batch;
                try { batch = await reader.ReadAsync(context.CancellationToken); }
                catch (InvalidDataException e) { throw ErrorMapping.Invalid($"batch {index}: {e.Message}"); }
                if (batch == null) break;
                Decoded d;
                using (batch)
                {
                    var meta = reader.AppMetadata;
                    var mode = meta.IsEmpty ? cmd.Mode : ParseMode(Encoding.UTF8.GetString(meta.Span));
                    if (form == WeightSchema.TileForm)
                    {
                        var (storeBatch, weights, values) = TileBatch(batch, mode, index, SpareOfLength(spare, batch.Length * WeightSchema.TileSize));
                        d = new Decoded(storeBatch, index, batch.Length, weights, mode, values);
                    }
                    else
                    {
                        var (storeBatch, weights) = RowBatch(batch, mode, index);
                        d = new Decoded(storeBatch, index, batch.Length, weights, mode, null);
                    }
                }
                try { await decoded.Writer.WriteAsync(d, context.CancellationToken); }
                catch (ChannelClosedException) { break; } // the logger failed: its error is the call's
                index++;
            }
        }
        finally
        {
            // Batches already decoded are logged (and acknowledged once durable) before any error goes out.
            decoded.Writer.TryComplete();
            try { await logger; }
            finally
            {
                acks.Writer.TryComplete();
                try { await ackWriter; } catch when (context.CancellationToken.IsCancellationRequested) { }
            }
        }
    }

    /// <summary>
    /// A spare values array of exactly <paramref name="length"/> floats, or null. Batch sizes change at module ends,
    /// so arrays of other lengths go back (a few at most: the pipeline holds four batches).
    /// </summary>
    private static float[]? SpareOfLength(System.Collections.Concurrent.ConcurrentQueue<float[]> spare, int length)
    {
        for (int i = spare.Count; i > 0 && spare.TryDequeue(out var a); i--)
        {
            if (a.Length == length) return a;
            if (spare.Count < 4) spare.Enqueue(a);
        }
        return null;
    }

    /// <summary>A batch ready for the store, with what its acknowledgement says and the values array to reuse.</summary>
    private sealed record Decoded(AdapterBatch Batch, int Index, int Rows, long Weights, string Mode, float[]? Values);

    private static PutCommand ParseDescriptor(FlightDescriptor d, Caller caller)
    {
        if (d.Type == FlightDescriptor.Types.DescriptorType.Path)
        {
            if (d.Path.Count != 2 || d.Path[0] is not ("adapters" or "tiles"))
                throw ErrorMapping.Invalid("DoPut path must be [\"adapters\", name] (or [\"tiles\", name]); use a CMD descriptor with JSON to create adapters or modules");
            return new PutCommand(caller.In(d.Path[1]), "set", false, null, []);
        }
        if (d.Type != FlightDescriptor.Types.DescriptorType.Cmd) throw ErrorMapping.Invalid("DoPut descriptor must be PATH or CMD");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(d.Cmd.Memory); }
        catch (JsonException e)
        {
            throw ErrorMapping.Invalid($"DoPut CMD must be JSON {{\"adapter\", \"mode\", \"create\", \"base_model\", \"modules\": [{{\"name\", \"rows\", \"cols\", \"scale\"}}]}}: {e.Message}");
        }
        using (doc)
        {
            var r = doc.RootElement;
            if (r.ValueKind != JsonValueKind.Object) throw ErrorMapping.Invalid($"DoPut CMD must be a JSON object, not {KindOf(r)}");
            var name = CmdString(r, "adapter", "adapter") ?? throw CmdWrong("adapter", "a string", null);
            var mode = CmdString(r, "mode", "mode") is { } m ? ParseMode(m) : "set";
            bool create = Field(r, "create") is { } c
                ? c.ValueKind is JsonValueKind.True or JsonValueKind.False ? c.GetBoolean() : throw CmdWrong("create", "a boolean", c)
                : false;
            string? baseModel = CmdString(r, "base_model", "base_model");
            var modules = new List<ModuleSpec>();
            if (Field(r, "modules") is { } ms)
            {
                if (ms.ValueKind != JsonValueKind.Array) throw CmdWrong("modules", "an array of objects", ms);
                int i = 0;
                foreach (var x in ms.EnumerateArray())
                {
                    var at = $"modules[{i++}]";
                    if (x.ValueKind != JsonValueKind.Object) throw CmdWrong(at, "an object", x);
                    var moduleName = CmdString(x, "name", at + ".name") ?? throw CmdWrong(at + ".name", "a string", null);
                    float scale = 1f;
                    if (Field(x, "scale") is { } sc)
                    {
                        if (sc.ValueKind != JsonValueKind.Number) throw CmdWrong(at + ".scale", "a number", sc);
                        scale = (float)sc.GetDouble();
                        if (!float.IsFinite(scale)) throw ErrorMapping.Invalid($"\"{at}.scale\" must be a finite float32 number");
                    }
                    modules.Add(new ModuleSpec(AdapterNames.ValidateModule(moduleName), CmdInt(x, "rows", at + ".rows"), CmdInt(x, "cols", at + ".cols"), scale));
                }
            }
            return new PutCommand(caller.In(name), mode, create, baseModel, modules);
        }
    }

    // Typed reads of the CMD JSON: a wrong type is INVALID_ARGUMENT naming the field (absent or null: the default).
    private static JsonElement? Field(JsonElement o, string key) =>
        o.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    private static string? CmdString(JsonElement o, string key, string label)
    {
        if (Field(o, key) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.String) throw CmdWrong(label, "a string", v);
        try { return v.GetString(); }
        catch (InvalidOperationException) { throw ErrorMapping.Invalid($"DoPut CMD: \"{label}\" is not valid Unicode text (an unpaired surrogate)"); }
    }

    private static int CmdInt(JsonElement o, string key, string label)
    {
        var v = Field(o, key) ?? throw CmdWrong(label, "an integer", null);
        if (v.ValueKind != JsonValueKind.Number) throw CmdWrong(label, "an integer", v);
        return v.TryGetInt32(out var n) ? n : throw ErrorMapping.Invalid($"DoPut CMD: \"{label}\" must be a 32-bit integer, not {StatusText.Quote(v.GetRawText())}");
    }

    private static RpcException CmdWrong(string label, string expected, JsonElement? got) =>
        ErrorMapping.Invalid($"DoPut CMD: \"{label}\" must be {expected}, not {(got is { } g ? KindOf(g) : "missing")}");

    private static string KindOf(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => "null",
    };

    private static string ParseMode(string s) => s.Trim() switch
    {
        "set" => "set",
        "add" => "add",
        var other => throw ErrorMapping.Invalid($"unknown DoPut mode {StatusText.Quote(other)} (use \"set\" or \"add\")"),
    };

    /// <summary>The form the schema carries (rows or tiles), with the column types each needs; anything else is INVALID_ARGUMENT.</summary>
    private static string CheckSchema(Schema schema)
    {
        var form = WeightSchema.FormOf(schema) ?? throw ErrorMapping.Invalid(
            $"DoPut schema must be rows (module, row, col, value) or tiles (module, tile_row, tile_col, values), in that order; got ({Describe(schema)})");
        bool ok = schema.GetFieldByIndex(0).DataType is StringType or DictionaryType { ValueType: StringType }
            && schema.GetFieldByIndex(1).DataType is Int32Type && schema.GetFieldByIndex(2).DataType is Int32Type
            && (form == WeightSchema.RowForm
                ? schema.GetFieldByIndex(3).DataType is FloatType
                : schema.GetFieldByIndex(3).DataType is FixedSizeListType { ListSize: WeightSchema.TileSize, ValueDataType: FloatType or HalfFloatType });
        if (!ok)
            throw ErrorMapping.Invalid(form == WeightSchema.RowForm
                ? $"DoPut row schema must be (module utf8 or dictionary<int, utf8>, row int32, col int32, value float32); got ({Describe(schema)})"
                : $"DoPut tile schema must be (module utf8 or dictionary<int, utf8>, tile_row int32, tile_col int32, values fixed_size_list<float32 or float16>[{WeightSchema.TileSize}]); got ({Describe(schema)})");
        return form;
    }

    private static string Describe(Schema schema) => string.Join(", ", schema.FieldsList.Select(f => $"{StatusText.Quote(f.Name)} {TypeName(f.DataType)}"));

    private static string TypeName(IArrowType t) => t switch
    {
        DictionaryType d => $"dictionary<{TypeName(d.IndexType)}, {TypeName(d.ValueType)}>",
        FixedSizeListType l => $"fixed_size_list<{TypeName(l.ValueDataType)}>[{l.ListSize}]",
        _ => t.Name,
    };

    /// <summary>Creates the adapter and declares its modules as the CMD asks, each durably before any batch is read.</summary>
    private async Task OpenAdapterAsync(PutCommand cmd)
    {
        // The whole request is checked before anything is logged: a refused DoPut changes nothing.
        var declared = new AdapterBatch();
        foreach (var spec in cmd.Modules)
        {
            try { declared.DefineModule(spec.Name, spec.Rows, spec.Cols, spec.Scale); }
            catch (ArgumentException e) { throw ErrorMapping.Invalid(e.Message); }
        }
        if (cmd.Create)
        {
            // A new adapter is created with its modules in one record: after a crash it exists with them or not at all.
            bool created;
            try { created = await Task.Run(() => store.CreateIfMissing(cmd.Adapter, cmd.BaseModel, declared)); }
            catch (Exception e) when (ErrorMapping.Map(e) is { } mapped) { throw mapped; }
            if (created) return;
        }
        else if (!store.Contains(cmd.Adapter))
            throw ErrorMapping.NotFound($"no adapter '{cmd.Adapter}' (send \"create\": true in a CMD descriptor to create it)");
        if (cmd.Modules.Count == 0) return;
        var info = store.Info(cmd.Adapter);
        var known = info.Modules.ToDictionary(m => m.Name, StringComparer.Ordinal);
        foreach (var spec in cmd.Modules)
            if (known.TryGetValue(spec.Name, out var m) && (m.Rows != spec.Rows || m.Cols != spec.Cols))
                throw ErrorMapping.Invalid($"module '{spec.Name}' is {m.Rows}x{m.Cols}, not {spec.Rows}x{spec.Cols}");
        if (cmd.Modules.All(spec => known.ContainsKey(spec.Name))) return;
        // Planned under the adapter's lock: a module another writer declared meanwhile keeps its scale.
        var staged = store.Stage(cmd.Adapter, a =>
        {
            var b = new AdapterBatch();
            foreach (var spec in cmd.Modules)
                if (!a.Modules.Contains(spec.Name)) b.DefineModule(spec.Name, spec.Rows, spec.Cols, spec.Scale);
            return b;
        });
        await store.WhenDurableAsync(staged.Seq);
    }

    /// <summary>Checks what the store cannot (nulls, types, finite values) and cuts a row batch into one set/add step per module run.</summary>
    private static (AdapterBatch, long) RowBatch(RecordBatch batch, string mode, int index)
    {
        string[] names; int[] modules;
        ReadOnlySpan<int> rows, cols; ReadOnlySpan<float> values;
        try
        {
            (names, modules) = Columns.Strings(batch.Column(0), "module");
            rows = Columns.Int32Values(batch.Column(1), "row");
            cols = Columns.Int32Values(batch.Column(2), "col");
            values = Columns.Float32Values(batch.Column(3), "value");
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException) { throw ErrorMapping.Invalid($"batch {index}: {e.Message}"); }
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) throw ErrorMapping.Invalid($"batch {index}, row {i}: value {values[i]} is not finite");
        var result = new AdapterBatch();
        foreach (var (start, end) in ModuleRuns(modules))
        {
            var (r, c, v) = (rows[start..end].ToArray(), cols[start..end].ToArray(), values[start..end].ToArray());
            try
            {
                if (mode == "add") result.Add(names[modules[start]], r, c, v);
                else result.Set(names[modules[start]], r, c, v);
            }
            catch (ArgumentException e) { throw ErrorMapping.Invalid($"batch {index}, row {start}: {e.Message}"); }
        }
        return (result, batch.Length);
    }

    /// <summary>A tile batch as one set/add-tiles step per module run (values as float32; float16 is widened).</summary>
    private static (AdapterBatch, long, float[]) TileBatch(RecordBatch batch, string mode, int index, float[]? reuse)
    {
        string[] names; int[] modules;
        ReadOnlySpan<int> tileRows, tileCols;
        float[] values;
        try
        {
            (names, modules) = Columns.Strings(batch.Column(0), "module");
            tileRows = Columns.Int32Values(batch.Column(1), "tile_row");
            tileCols = Columns.Int32Values(batch.Column(2), "tile_col");
            values = TileValues(batch.Column(3), batch.Length, reuse);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException) { throw ErrorMapping.Invalid($"batch {index}: {e.Message}"); }
        // Finite values, coordinates and zero padding are the store's tile rules (TileChecks), checked before logging.
        var result = new AdapterBatch();
        foreach (var (start, end) in ModuleRuns(modules))
        {
            // One module per batch is the common case: its values go to the store as they are (no second copy).
            var v = start == 0 && end == batch.Length ? values : values.AsSpan(start * WeightSchema.TileSize, (end - start) * WeightSchema.TileSize).ToArray();
            try
            {
                if (mode == "add") result.AddTiles(names[modules[start]], tileRows[start..end].ToArray(), tileCols[start..end].ToArray(), v);
                else result.SetTiles(names[modules[start]], tileRows[start..end].ToArray(), tileCols[start..end].ToArray(), v);
            }
            catch (ArgumentException e) { throw ErrorMapping.Invalid($"batch {index}, tile {start}: {e.Message}"); }
        }
        return (result, (long)batch.Length * WeightSchema.TileSize, values);
    }

    /// <summary>[start, end) of each run of rows naming one module (a batch's store ops go one per run).</summary>
    private static List<(int Start, int End)> ModuleRuns(int[] modules)
    {
        var runs = new List<(int, int)>();
        for (int start = 0, i = 1; i <= modules.Length; i++)
            if (i == modules.Length || modules[i] != modules[start]) { runs.Add((start, i)); start = i; }
        return runs;
    }

    /// <param name="reuse">an earlier batch's array, taken when it has the right length (the store holds no reference to it).</param>
    private static float[] TileValues(IArrowArray column, int tiles, float[]? reuse)
    {
        if (column is not FixedSizeListArray list) throw new InvalidDataException($"column 'values' must be fixed_size_list, not {column.Data.DataType.Name}");
        if (list.NullCount > 0 || list.Values.NullCount > 0) throw new InvalidDataException("column 'values' has nulls");
        int n = tiles * WeightSchema.TileSize, first = list.Offset * WeightSchema.TileSize;
        var values = reuse?.Length == n ? reuse : GC.AllocateUninitializedArray<float>(n); // overwritten whole below
        switch (list.Values)
        {
            case FloatArray f: f.Values.Slice(first, n).CopyTo(values); break;
            case HalfFloatArray h: System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(h.Values.Slice(first, n), values); break;
            default: throw new InvalidDataException($"column 'values' must hold float32 or float16, not {list.Values.Data.DataType.Name}");
        }
        return values;
    }

    /// <summary>Logs and applies the batch (not yet durable); the store refuses it whole if any row is bad.</summary>
    private ulong Log(string adapter, AdapterBatch batch, int index)
    {
        try { return store.Stage(adapter, batch).Seq; }
        catch (KeyNotFoundException e) when (e.Message.Contains("module"))
        {
            throw ErrorMapping.NotFound($"batch {index}: {e.Message} (declare it in the CMD descriptor's \"modules\")");
        }
        catch (Exception e) when (ErrorMapping.Map(e) is { } mapped)
        {
            throw ErrorMapping.Status(mapped.StatusCode, $"batch {index}: {e.Message}");
        }
    }
}

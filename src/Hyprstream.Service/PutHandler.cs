using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Google.Protobuf;
using Hyprstream.Flight.Rpc;
using Hyprstream.Flight.Grpc;
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
public sealed class PutHandler(AdapterStore store, ServiceStats stats)
{
    private sealed record PutCommand(string Adapter, string Mode, bool Create, string? BaseModel, List<ModuleSpec> Modules);
    private sealed record ModuleSpec(string Name, int Rows, int Cols, float Scale);

    public async Task DoPutAsync(GrpcServerCall call)
    {
        var first = Parse(await call.ReadMessageAsync() ?? throw ErrorMapping.Invalid("DoPut needs a first message with a descriptor and a schema"));
        if (first.Descriptor == null) throw ErrorMapping.Invalid("the first DoPut message carries no flight descriptor");
        var cmd = ParseDescriptor(first.Descriptor);
        var decoder = new FlightDataDecoder();
        try { decoder.Decode(first); }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException) { throw ErrorMapping.Invalid($"bad schema message: {e.Message}"); }
        var schema = decoder.Schema ?? throw ErrorMapping.Invalid("the first DoPut message carries no Arrow schema");
        CheckSchema(schema);

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
                foreach (var (_, a) in ready) await call.WriteAsync(new PutResult { AppMetadata = ByteString.CopyFrom(a) });
                ready.Clear();
            }
        });
        try
        {
            int index = 0;
            while (await call.ReadMessageAsync() is { } raw)
            {
                var data = Parse(raw);
                ArrowRecordBatch? batch;
                try { batch = decoder.Decode(data); }
                catch (Exception e) when (e is InvalidDataException or NotSupportedException) { throw ErrorMapping.Invalid($"batch {index}: {e.Message}"); }
                if (batch == null) continue;
                var mode = data.AppMetadata.IsEmpty ? cmd.Mode : ParseMode(Encoding.UTF8.GetString(data.AppMetadata.Span));
                var seq = Log(cmd.Adapter, ToStoreBatch(batch, mode, index), index);
                stats.Written(batch.Length);
                var ack = JsonSerializer.SerializeToUtf8Bytes(new { batch = index, rows = batch.Length, mode, adapter = cmd.Adapter, version = seq });
                await acks.Writer.WriteAsync((seq, ack));
                index++;
                if (ackWriter.IsFaulted) break;
            }
        }
        finally
        {
            acks.Writer.TryComplete();
            // Earlier batches are logged: their acknowledgements still go out (once durable) before any error.
            try { await ackWriter; } catch when (call.CancellationToken.IsCancellationRequested) { }
        }
    }

    /// <summary>The FlightData fields as slices of the received message (no copy of the body).</summary>
    private static FlightDataView Parse(byte[] raw)
    {
        try { return FlightDataView.Parse(raw); }
        catch (Exception e) when (e is InvalidDataException or InvalidProtocolBufferException) { throw ErrorMapping.Invalid($"malformed FlightData message: {e.Message}"); }
    }

    private static PutCommand ParseDescriptor(FlightDescriptor d)
    {
        if (d.Type == FlightDescriptor.Types.DescriptorType.Path)
        {
            if (d.Path.Count != 2 || d.Path[0] != "adapters")
                throw ErrorMapping.Invalid("DoPut path must be [\"adapters\", name]; use a CMD descriptor with JSON to create adapters or modules");
            return new PutCommand(AdapterNames.ValidateAdapter(d.Path[1]), "set", false, null, []);
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
            return new PutCommand(AdapterNames.ValidateAdapter(name), mode, create, baseModel, modules);
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

    private static GrpcException CmdWrong(string label, string expected, JsonElement? got) =>
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

    private static void CheckSchema(ArrowSchema schema)
    {
        if (!schema.SameColumns(WeightSchema.Schema))
            throw ErrorMapping.Invalid($"DoPut schema must be ({WeightSchema.Schema}) in that order; got ({schema})");
    }

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

    /// <summary>Rows [Start, Start + Length) all name one module.</summary>
    private readonly record struct Run(string Module, int Start, int Length);

    /// <summary>Checks what the store cannot (nulls, finite values) and cuts the batch into one set/add step per module run.</summary>
    private static AdapterBatch ToStoreBatch(ArrowRecordBatch batch, string mode, int index)
    {
        for (int c = 0; c < batch.Columns.Count; c++)
            if (batch.Columns[c].NullCount > 0) throw ErrorMapping.Invalid($"batch {index}: column '{batch.Schema.Fields[c].Name}' has nulls");
        var rows = batch.Columns[1].Values<int>();
        var cols = batch.Columns[2].Values<int>();
        var values = batch.Columns[3].Values<float>();
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) throw ErrorMapping.Invalid($"batch {index}, row {i}: value {values[i]} is not finite");
        var module = batch.Columns[0];
        var result = new AdapterBatch();
        int start = 0;
        for (int i = 1; i <= batch.Length; i++)
        {
            if (i < batch.Length && module.Bytes(i).SequenceEqual(module.Bytes(start))) continue;
            var name = Encoding.UTF8.GetString(module.Bytes(start));
            var (r, c, v) = (rows.Slice(start, i - start).ToArray(), cols.Slice(start, i - start).ToArray(), values.Slice(start, i - start).ToArray());
            try
            {
                if (mode == "add") result.Add(name, r, c, v);
                else result.Set(name, r, c, v);
            }
            catch (ArgumentException e) { throw ErrorMapping.Invalid($"batch {index}, row {start}: {e.Message}"); }
            start = i;
        }
        return result;
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
            throw new GrpcException(mapped.Status, $"batch {index}: {e.Message}");
        }
    }
}

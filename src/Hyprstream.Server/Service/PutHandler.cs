using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Google.Protobuf;
using Hyprstream.Flight.Flight;
using Hyprstream.Flight.Grpc;
using Hyprstream.Flight.Ipc;
using Hyprstream.Flight.Protocol;
using Hyprstream.Runtime;

namespace Hyprstream.Server.Service;

/// <summary>
/// DoPut: record batches of `module, row, col, value` set or added into an adapter. Each batch is checked whole
/// (columns, nulls, module names, bounds, finite values, finite sums) before any weight changes, then applied under
/// the adapter's gate, so a bad batch changes nothing and concurrent writers lose no update. A batch's PutResult is
/// sent only after a save that includes it has reached the disk; saves are shared by every batch before them.
/// </summary>
public sealed class PutHandler(IAdapterStore store, ServiceStats stats)
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

        var entry = OpenAdapter(cmd);
        var acks = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        // Group commit: while one save runs, later batches are applied; the next save covers all of them.
        var ackWriter = Task.Run(async () =>
        {
            var ready = new List<byte[]>();
            while (await acks.Reader.WaitToReadAsync())
            {
                while (acks.Reader.TryRead(out var a)) ready.Add(a);
                await store.PersistAsync(entry, CancellationToken.None);
                foreach (var a in ready) await call.WriteAsync(new PutResult { AppMetadata = ByteString.CopyFrom(a) });
                ready.Clear();
            }
        });
        try
        {
            // A newly created adapter exists durably even before its first batch.
            if (entry.Version == 0) await store.PersistAsync(entry, CancellationToken.None);
            int index = 0;
            while (await call.ReadMessageAsync() is { } raw)
            {
                var data = Parse(raw);
                ArrowRecordBatch? batch;
                try { batch = decoder.Decode(data); }
                catch (Exception e) when (e is InvalidDataException or NotSupportedException) { throw ErrorMapping.Invalid($"batch {index}: {e.Message}"); }
                if (batch == null) continue;
                var mode = data.AppMetadata.IsEmpty ? cmd.Mode : ParseMode(Encoding.UTF8.GetString(data.AppMetadata.Span));
                long version = await ApplyAsync(entry, batch, mode, index, call.CancellationToken);
                stats.Written(batch.Length);
                var ack = JsonSerializer.SerializeToUtf8Bytes(new { batch = index, rows = batch.Length, mode, adapter = entry.Name, version });
                await acks.Writer.WriteAsync(ack);
                index++;
                if (ackWriter.IsFaulted) break;
            }
        }
        finally
        {
            acks.Writer.TryComplete();
            // Earlier batches are applied and are being saved: their acknowledgements still go out before any error.
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
        try
        {
            using var doc = JsonDocument.Parse(d.Cmd.Memory);
            var r = doc.RootElement;
            var name = r.GetProperty("adapter").GetString();
            var mode = r.TryGetProperty("mode", out var m) ? ParseMode(m.GetString() ?? "") : "set";
            bool create = r.TryGetProperty("create", out var c) && c.GetBoolean();
            string? baseModel = r.TryGetProperty("base_model", out var b) ? b.GetString() : null;
            var modules = new List<ModuleSpec>();
            if (r.TryGetProperty("modules", out var ms))
                foreach (var x in ms.EnumerateArray())
                    modules.Add(new ModuleSpec(AdapterNames.ValidateModule(x.GetProperty("name").GetString()), x.GetProperty("rows").GetInt32(), x.GetProperty("cols").GetInt32(),
                        x.TryGetProperty("scale", out var s) ? s.GetSingle() : 1f));
            return new PutCommand(AdapterNames.ValidateAdapter(name), mode, create, baseModel, modules);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw ErrorMapping.Invalid($"DoPut CMD must be JSON {{\"adapter\", \"mode\", \"create\", \"base_model\", \"modules\": [{{\"name\", \"rows\", \"cols\", \"scale\"}}]}}: {e.Message}");
        }
    }

    private static string ParseMode(string s) => s.Trim() switch
    {
        "set" => "set",
        "add" => "add",
        var other => throw ErrorMapping.Invalid($"unknown DoPut mode '{other}' (use \"set\" or \"add\")"),
    };

    private static void CheckSchema(ArrowSchema schema)
    {
        if (!schema.SameColumns(WeightSchema.Schema))
            throw ErrorMapping.Invalid($"DoPut schema must be ({WeightSchema.Schema}) in that order; got ({schema})");
    }

    private AdapterEntry OpenAdapter(PutCommand cmd)
    {
        AdapterEntry entry;
        if (cmd.Create)
        {
            entry = store.GetOrAdd(cmd.Adapter, () => new SparseAdapter(cmd.Adapter, cmd.BaseModel), out _);
        }
        else
        {
            entry = store.Find(cmd.Adapter) ?? throw ErrorMapping.NotFound($"no adapter '{cmd.Adapter}' (send \"create\": true in a CMD descriptor to create it)");
        }
        if (cmd.Modules.Count == 0) return entry;
        entry.Gate.Wait();
        try
        {
            foreach (var spec in cmd.Modules)
            {
                if (entry.Adapter.Modules.TryGet(spec.Name, out var existing))
                {
                    if (existing.Rows != spec.Rows || existing.Cols != spec.Cols)
                        throw ErrorMapping.Invalid($"module '{spec.Name}' is {existing.Rows}x{existing.Cols}, not {spec.Rows}x{spec.Cols}");
                    continue;
                }
                entry.Adapter.AddModule(spec.Name, spec.Rows, spec.Cols, spec.Scale);
                entry.Changed();
            }
        }
        finally { entry.Gate.Release(); }
        return entry;
    }

    /// <summary>Validates the whole batch, then applies it; returns the adapter version that includes it.</summary>
    private static async Task<long> ApplyAsync(AdapterEntry entry, ArrowRecordBatch batch, string mode, int index, CancellationToken ct)
    {
        var runs = Validate(batch, index);
        await entry.Gate.WaitAsync(ct);
        try { return ApplyLocked(entry, batch, runs, mode, index); }
        finally { entry.Gate.Release(); }
    }

    /// <summary>Rows [Start, Start + Length) all name one module.</summary>
    private readonly record struct Run(string Module, int Start, int Length);

    private static List<Run> Validate(ArrowRecordBatch batch, int index)
    {
        for (int c = 0; c < batch.Columns.Count; c++)
            if (batch.Columns[c].NullCount > 0) throw ErrorMapping.Invalid($"batch {index}: column '{batch.Schema.Fields[c].Name}' has nulls");
        var values = batch.Columns[3].Values<float>();
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) throw ErrorMapping.Invalid($"batch {index}, row {i}: value {values[i]} is not finite");
        var module = batch.Columns[0];
        var runs = new List<Run>();
        int start = 0;
        for (int i = 1; i <= batch.Length; i++)
        {
            if (i < batch.Length && module.Bytes(i).SequenceEqual(module.Bytes(start))) continue;
            runs.Add(new Run(Encoding.UTF8.GetString(module.Bytes(start)), start, i - start));
            start = i;
        }
        return runs;
    }

    private static long ApplyLocked(AdapterEntry entry, ArrowRecordBatch batch, List<Run> runs, string mode, int index)
    {
        if (entry.Removed) throw new GrpcException(GrpcStatusCode.FailedPrecondition, $"adapter '{entry.Name}' was deleted or unloaded");
        var rows = batch.Columns[1].Values<int>();
        var cols = batch.Columns[2].Values<int>();
        var values = batch.Columns[3].Values<float>();
        var modules = new AdapterModule[runs.Count];
        for (int k = 0; k < runs.Count; k++)
        {
            var run = runs[k];
            if (!entry.Adapter.Modules.TryGet(run.Module, out var m))
                throw ErrorMapping.NotFound($"batch {index}: adapter '{entry.Name}' has no module '{run.Module}' (declare it in the CMD descriptor's \"modules\")");
            for (int i = run.Start; i < run.Start + run.Length; i++)
                if ((uint)rows[i] >= (uint)m.Rows || (uint)cols[i] >= (uint)m.Cols)
                    throw ErrorMapping.Invalid($"batch {index}, row {i}: ({rows[i]}, {cols[i]}) is outside module '{run.Module}' ({m.Rows}x{m.Cols})");
            modules[k] = m;
        }
        if (mode == "add") CheckSums(modules, runs, rows, cols, values, index);
        // Everything is checked: the writes below cannot fail on this batch's content.
        for (int k = 0; k < runs.Count; k++)
        {
            var (s, n) = (runs[k].Start, runs[k].Length);
            if (mode == "add") modules[k].AddMany(rows.Slice(s, n), cols.Slice(s, n), values.Slice(s, n));
            else modules[k].SetMany(rows.Slice(s, n), cols.Slice(s, n), values.Slice(s, n));
        }
        return entry.Changed();
    }

    /// <summary>Refuses an add whose sum would overflow to ±Inf before anything is applied.</summary>
    private static void CheckSums(AdapterModule[] modules, List<Run> runs, ReadOnlySpan<int> rows, ReadOnlySpan<int> cols, ReadOnlySpan<float> values, int index)
    {
        var sums = new Dictionary<(AdapterModule, int, int), double>();
        for (int k = 0; k < runs.Count; k++)
        {
            var (s, n) = (runs[k].Start, runs[k].Length);
            var old = new float[n];
            modules[k].GetMany(rows.Slice(s, n), cols.Slice(s, n), old);
            for (int i = 0; i < n; i++)
            {
                var key = (modules[k], rows[s + i], cols[s + i]);
                sums[key] = (sums.TryGetValue(key, out var sum) ? sum : old[i]) + values[s + i];
            }
        }
        foreach (var ((m, row, col), sum) in sums)
            if (!float.IsFinite((float)sum)) throw ErrorMapping.Invalid($"batch {index}: adding to ({row}, {col}) of module '{m.Name}' would overflow float32");
    }
}

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
        var first = await call.ReadAsync(FlightData.Parser) ?? throw ErrorMapping.Invalid("DoPut needs a first message with a descriptor and a schema");
        if (first.FlightDescriptor == null) throw ErrorMapping.Invalid("the first DoPut message carries no flight descriptor");
        var cmd = ParseDescriptor(first.FlightDescriptor);
        var decoder = new FlightDataDecoder();
        try { decoder.Decode(first); }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException) { throw ErrorMapping.Invalid($"bad schema message: {e.Message}"); }
        var schema = decoder.Schema ?? throw ErrorMapping.Invalid("the first DoPut message carries no Arrow schema");
        CheckSchema(schema);

        var entry = OpenAdapter(cmd);
        var acks = Channel.CreateUnbounded<(Task Persisted, byte[] Ack)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var ackWriter = Task.Run(async () =>
        {
            await foreach (var (persisted, ack) in acks.Reader.ReadAllAsync())
            {
                await persisted;
                await call.WriteAsync(new PutResult { AppMetadata = ByteString.CopyFrom(ack) });
            }
        });
        try
        {
            // A newly created adapter exists durably even before its first batch.
            if (entry.Version == 0) await store.PersistAsync(entry, CancellationToken.None);
            int index = 0;
            while (await call.ReadAsync(FlightData.Parser) is { } data)
            {
                ArrowRecordBatch? batch;
                try { batch = decoder.Decode(data); }
                catch (Exception e) when (e is InvalidDataException or NotSupportedException) { throw ErrorMapping.Invalid($"batch {index}: {e.Message}"); }
                if (batch == null) continue;
                var mode = data.AppMetadata.IsEmpty ? cmd.Mode : ParseMode(data.AppMetadata.ToStringUtf8());
                long version = await ApplyAsync(entry, batch, mode, index, call.CancellationToken);
                stats.Written(batch.Length);
                var ack = JsonSerializer.SerializeToUtf8Bytes(new { batch = index, rows = batch.Length, mode, adapter = entry.Name, version });
                await acks.Writer.WriteAsync((store.PersistAsync(entry, CancellationToken.None), ack));
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
        var groups = Validate(batch, index);
        await entry.Gate.WaitAsync(ct);
        try { return ApplyLocked(entry, batch, groups, mode, index); }
        finally { entry.Gate.Release(); }
    }

    private static Dictionary<string, List<int>> Validate(ArrowRecordBatch batch, int index)
    {
        for (int c = 0; c < batch.Columns.Count; c++)
            if (batch.Columns[c].NullCount > 0) throw ErrorMapping.Invalid($"batch {index}: column '{batch.Schema.Fields[c].Name}' has nulls");
        var module = batch.Columns[0];
        var rows = batch.Columns[1].Values<int>();
        var cols = batch.Columns[2].Values<int>();
        var values = batch.Columns[3].Values<float>();
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) throw ErrorMapping.Invalid($"batch {index}, row {i}: value {values[i]} is not finite");

        // Group row indices by module; batches usually hold long runs of one module.
        var groups = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        byte[]? current = null;
        List<int>? list = null;
        for (int i = 0; i < batch.Length; i++)
        {
            var bytes = module.Bytes(i);
            if (current == null || !bytes.SequenceEqual(current))
            {
                current = bytes.ToArray();
                var key = Encoding.UTF8.GetString(bytes);
                if (!groups.TryGetValue(key, out list)) groups[key] = list = [];
                list.Add(i);
                continue;
            }
            list!.Add(i);
        }
        return groups;
    }

    private static long ApplyLocked(AdapterEntry entry, ArrowRecordBatch batch, Dictionary<string, List<int>> groups, string mode, int index)
    {
        var rows = batch.Columns[1].Values<int>();
        var cols = batch.Columns[2].Values<int>();
        var values = batch.Columns[3].Values<float>();
        {
            if (entry.Removed) throw new GrpcException(GrpcStatusCode.FailedPrecondition, $"adapter '{entry.Name}' was deleted or unloaded");
            var work = new List<(AdapterModule Module, int[] R, int[] C, float[] V)>(groups.Count);
            foreach (var (name, idx) in groups)
            {
                if (!entry.Adapter.Modules.TryGet(name, out var m))
                    throw ErrorMapping.NotFound($"batch {index}: adapter '{entry.Name}' has no module '{name}' (declare it in the CMD descriptor's \"modules\")");
                var r = new int[idx.Count];
                var c = new int[idx.Count];
                var v = new float[idx.Count];
                for (int k = 0; k < idx.Count; k++)
                {
                    int i = idx[k];
                    r[k] = rows[i];
                    c[k] = cols[i];
                    v[k] = values[i];
                    if ((uint)r[k] >= (uint)m.Rows || (uint)c[k] >= (uint)m.Cols)
                        throw ErrorMapping.Invalid($"batch {index}, row {i}: ({r[k]}, {c[k]}) is outside module '{name}' ({m.Rows}x{m.Cols})");
                }
                if (mode == "add") CheckSums(m, r, c, v, index, name);
                work.Add((m, r, c, v));
            }
            foreach (var (m, r, c, v) in work)
            {
                if (mode == "add") m.AddMany(r, c, v);
                else m.SetMany(r, c, v);
            }
            return entry.Changed();
        }
    }

    /// <summary>Refuses an add whose sum would overflow to ±Inf before anything is applied.</summary>
    private static void CheckSums(AdapterModule m, int[] r, int[] c, float[] v, int index, string name)
    {
        var old = new float[v.Length];
        m.GetMany(r, c, old);
        var sums = new Dictionary<(int, int), double>();
        for (int k = 0; k < v.Length; k++)
        {
            var key = (r[k], c[k]);
            sums[key] = (sums.TryGetValue(key, out var s) ? s : old[k]) + v[k];
        }
        foreach (var ((row, col), s) in sums)
            if (!float.IsFinite((float)s)) throw ErrorMapping.Invalid($"batch {index}: adding to ({row}, {col}) of module '{name}' would overflow float32");
    }
}

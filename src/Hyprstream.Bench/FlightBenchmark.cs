using Hyprstream.Runtime.Synthetic;
using System.Diagnostics;
using Hyprstream.Flight.Rpc;
using Hyprstream.Flight.Ipc;
using Hyprstream.Flight.Protocol;
using Hyprstream.Runtime;

namespace Hyprstream.Bench;

/// <summary>
/// `hyprstream bench flight`: DoGet and DoPut throughput on loopback for a Qwen3-1.7B-shaped 1% tile-structured
/// adapter, with our client (and the Node apache-arrow client when tests/interop is installed). The baseline in the
/// same run is the in-process enumeration of the same weights (the ceiling any DoGet can reach).
/// </summary>
internal static class FlightBenchmark
{
    public sealed record Row(string Client, string Metric, double Value, string Unit, string? Target);

    public static async Task<List<Row>> RunAsync(FlightTargetFactory start, int layers, double density, int batchRows, string workDir, string? nodeScript, Action<string> progress)
    {
        var rows = new List<Row>();
        Directory.CreateDirectory(workDir);
        progress($"generating a {density:P1} tile-structured adapter with Qwen3-1.7B shapes ({layers} layers)");
        var data = SyntheticAdapter.Generate(ModelShapes.Qwen3_1_7B(layers), density, SparsityStructure.Tile, seed: 1234);
        long n = data.Weights;
        using (var a = data.Build("bench")) a.Save(Path.Combine(workDir, "bench.vdb"));

        var target = await start(workDir, batchRows, Environment.GetEnvironmentVariable("HYPRSTREAM_BENCH_LOG") == "1" ? progress : null);
        await using var server = target.Server;
        progress($"serving {n:N0} weights at {target.Address}, DoGet batches of up to {batchRows:N0} rows, {target.Description}");

        // Baseline: enumerate every weight in process, no transport.
        double tb;
        using (var local = SparseAdapter.Load(Path.Combine(workDir, "bench.vdb"))) tb = Median(3, () => Time(() => ReadAllInProcess(local)));
        rows.Add(new Row("in process", "read every weight with a cursor (baseline)", n / tb, "weights/s", null));

        using var client = new FlightClient(target.Address);
        var ticket = (await client.GetFlightInfoAsync(new FlightDescriptor { Type = FlightDescriptor.Types.DescriptorType.Path, Path = { "adapters", "bench" } })).Endpoint[0].Ticket;
        progress("DoGet with our client (warm-up, then median of 3)");
        await DoGet(client, ticket);
        var gets = new List<(double S, long Bytes, long Rows)>();
        for (int i = 0; i < 3; i++) gets.Add(await DoGet(client, ticket));
        var get = gets.OrderBy(g => g.S).ElementAt(1);
        if (get.Rows != n) throw new InvalidOperationException($"DoGet returned {get.Rows} weights, expected {n}");
        rows.Add(new Row("ours (C#)", "DoGet, decoded", get.Bytes / get.S / 1e6, "MB/s", ">= 500"));
        rows.Add(new Row("ours (C#)", "DoGet, decoded", get.Rows / get.S, "weights/s", null));

        if (nodeScript != null)
        {
            progress("DoGet, then DoPut of the same batches, with the Node apache-arrow client");
            var r = RunNode(nodeScript, target.Address);
            var g = r.GetProperty("get");
            var p = r.GetProperty("put");
            if (g.GetProperty("rows").GetInt64() != n) throw new InvalidOperationException($"Node DoGet returned {g.GetProperty("rows")} weights, expected {n}");
            if (await ActiveWeights(client, "bench-node") != n) throw new InvalidOperationException("Node DoPut lost weights");
            double gs = g.GetProperty("seconds").GetDouble(), ps = p.GetProperty("seconds").GetDouble();
            rows.Add(new Row("Node apache-arrow", "DoGet, decoded", g.GetProperty("bytes").GetInt64() / gs / 1e6, "MB/s", ">= 500"));
            rows.Add(new Row("Node apache-arrow", "DoGet, decoded", n / gs, "weights/s", null));
            rows.Add(new Row("Node apache-arrow", "DoPut (set), durable", p.GetProperty("bytes").GetInt64() / ps / 1e6, "MB/s", null));
            rows.Add(new Row("Node apache-arrow", "DoPut (set), durable", n / ps, "weights/s", null));
            await client.DoActionAsync("delete", System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new { adapter = "bench-node" }));
        }

        progress($"DoPut with our client into a new adapter (set batches of 65,536, acknowledged once in the write-ahead log, {target.Description})");
        // The weight schema as the service states it (GetSchema), not a copy of the service's code.
        var served = await client.GetSchemaAsync(new FlightDescriptor { Type = FlightDescriptor.Types.DescriptorType.Path, Path = { "adapters", "bench" } });
        var batches = ToBatches(data, 65536, new ArrowSchema(served.Fields));
        long putBytes = batches.Sum(b => (long)ArrowIpcWriter.RecordBatchMessage(b).Body.Length);
        var modules = data.Modules.Select(m => new { name = m.Name, rows = m.Rows, cols = m.Cols }).ToList();
        var cmd = new FlightDescriptor
        {
            Type = FlightDescriptor.Types.DescriptorType.Cmd,
            Cmd = Google.Protobuf.ByteString.CopyFrom(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new { adapter = "bench-put", create = true, modules })),
        };
        var sw = Stopwatch.StartNew();
        var acks = await client.DoPutAsync(cmd, batches[0].Schema, batches.Select(b => (b, (byte[]?)null)));
        double tp = sw.Elapsed.TotalSeconds;
        if (acks.Count != batches.Count) throw new InvalidOperationException($"{acks.Count} acks for {batches.Count} batches");
        if (await ActiveWeights(client, "bench-put") != n) throw new InvalidOperationException("DoPut lost weights");
        rows.Add(new Row("ours (C#)", "DoPut (set), durable", putBytes / tp / 1e6, "MB/s", null));
        rows.Add(new Row("ours (C#)", "DoPut (set), durable", n / tp, "weights/s", null));
        return rows;
    }

    /// <summary>The adapter's stored weights as the service reports them (the `stats` action).</summary>
    private static async Task<long> ActiveWeights(FlightClient client, string adapter)
    {
        var result = await client.DoActionAsync("stats", System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new { adapter }));
        using var doc = System.Text.Json.JsonDocument.Parse(result.Single());
        return doc.RootElement.GetProperty("active_weights").GetInt64();
    }

    private static async Task<(double S, long Bytes, long Rows)> DoGet(FlightClient client, Ticket ticket)
    {
        var sw = Stopwatch.StartNew();
        long bytes = 0, count = 0;
        // Bytes of Arrow data: each message's IPC metadata + body, as received.
        await foreach (var b in client.DoGetAsync(ticket, arrowBytes: n => bytes += n))
        {
            count += b.Length;
            _ = b.Column("value").Values<float>()[b.Length - 1];
        }
        return (sw.Elapsed.TotalSeconds, bytes, count);
    }

    private static System.Text.Json.JsonElement RunNode(string script, Uri address)
    {
        var proto = Path.Combine(Path.GetDirectoryName(script)!, "..", "..", "src", "Hyprstream.Flight", "Protos", "Flight.proto");
        var psi = new ProcessStartInfo("node", [script, address.Authority, proto]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"node bench failed: {err.Result}");
        return System.Text.Json.JsonDocument.Parse(output).RootElement.Clone();
    }

    private static List<ArrowRecordBatch> ToBatches(SyntheticAdapter data, int size, ArrowSchema schema)
    {
        var list = new List<ArrowRecordBatch>();
        foreach (var m in data.Modules)
            for (int start = 0; start < m.Values.Length; start += size)
            {
                int len = Math.Min(size, m.Values.Length - start);
                list.Add(new ArrowRecordBatch(schema, len, [
                    ArrowArray.Utf8(Enumerable.Repeat<string?>(m.Name, len).ToList()),
                    ArrowArray.Int32(m.RowIdx[start..(start + len)]),
                    ArrowArray.Int32(m.ColIdx[start..(start + len)]),
                    ArrowArray.Float32(m.Values[start..(start + len)]),
                ]));
            }
        return list;
    }

    private static long ReadAllInProcess(SparseAdapter a)
    {
        var r = new int[65536];
        var c = new int[65536];
        var v = new float[65536];
        long total = 0;
        foreach (var m in a.Modules)
        {
            using var cursor = m.OpenCursor();
            int n;
            while ((n = cursor.Read(r, c, v)) > 0) total += n;
        }
        return total;
    }

    private static double Time(Func<long> f)
    {
        var sw = Stopwatch.StartNew();
        f();
        return sw.Elapsed.TotalSeconds;
    }

    private static double Median(int k, Func<double> f) => Enumerable.Range(0, k).Select(_ => f()).Order().ElementAt(k / 2);
}

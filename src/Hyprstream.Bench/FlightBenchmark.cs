using System.Diagnostics;
using System.Text.Json;
using Apache.Arrow;
using Apache.Arrow.Types;
using Google.Protobuf;
using Hyprstream.Flight.Ipc;
using Hyprstream.Flight.Protocol;
using Hyprstream.Flight.Rpc;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Synthetic;

namespace Hyprstream.Bench;

/// <summary>
/// `hyprstream bench flight`: DoGet and DoPut on loopback for a Qwen3-1.7B-shaped 1% tile-structured adapter, in
/// both forms (rows; tiles as float32 and float16), with our client (and the Node apache-arrow client when
/// tests/interop is installed). For each: weights/s, MB/s, Arrow bytes on the wire per weight, and managed bytes
/// allocated per byte sent (server and client share this process). The baseline in the same run is the in-process
/// enumeration of the same weights (the ceiling a row DoGet can reach).
/// </summary>
internal static class FlightBenchmark
{
    public sealed record Row(string Client, string Metric, double Value, string Unit, string? Target);

    private const int TileSize = 512;

    public static async Task<List<Row>> RunAsync(FlightTargetFactory start, int layers, double density, int batchRows, string workDir, string? nodeScript, bool tilesOnly, Action<string> progress)
    {
        var rows = new List<Row>();
        Directory.CreateDirectory(workDir);
        progress($"generating a {density:P1} tile-structured adapter with Qwen3-1.7B shapes ({layers} layers)");
        var data = SyntheticAdapter.Generate(ModelShapes.Qwen3_1_7B(layers), density, SparsityStructure.Tile, seed: 1234);
        long n = data.Weights;
        using (var a = data.Build("bench")) a.Save(System.IO.Path.Combine(workDir, "bench.vdb"));

        var target = await start(workDir, batchRows, Environment.GetEnvironmentVariable("HYPRSTREAM_BENCH_LOG") == "1" ? progress : null);
        await using var server = target.Server;
        progress($"serving {n:N0} weights at {target.Address}, row batches of up to {batchRows:N0} rows, {target.Description}");

        double tb;
        using (var local = SparseAdapter.Load(System.IO.Path.Combine(workDir, "bench.vdb"))) tb = Median(3, () => Time(() => ReadAllInProcess(local)));
        rows.Add(new Row("in process", "read every weight with a cursor (baseline)", n / tb, "weights/s", null));

        using var client = new FlightClient(target.Address);
        var served = await client.GetFlightInfoAsync(Path("adapters", "bench"));
        var modules = JsonDocument.Parse(served.AppMetadata.Memory).RootElement.GetProperty("modules").EnumerateArray()
            .Select(m => new { name = m.GetProperty("name").GetString(), rows = m.GetProperty("rows").GetInt32(), cols = m.GetProperty("cols").GetInt32() }).ToList();
        var tiles = TileBatches(data, 256);
        // HYPRSTREAM_BENCH_PUT_ONLY=1 with --tiles-only: the durable tile DoPut alone (for a profiler).
        bool putOnly = tilesOnly && Environment.GetEnvironmentVariable("HYPRSTREAM_BENCH_PUT_ONLY") == "1";
        progress("warming up the service's per-call paths (40 small calls of each kind)");
        await WarmUpCalls(client, modules, tiles, progress);
        progress($"  {System.Runtime.JitInfo.GetCompiledMethodCount():N0} methods compiled so far");
        var gets = new (string Metric, FlightTicketJson Ticket, string? RateTarget, string? SizeTarget)[]
        {
            ("row DoGet", new("bench", "rows", null), ">= 15.2 M (0.8x hand-written 19 M)", null),
            ("tile DoGet float32", new("bench", "tiles", null), ">= 150 M", "<= 4.1"),
            ("tile DoGet float16", new("bench", "tiles", "float16"), ">= 150 M", "<= 2.1"),
        };
        // --tiles-only (profiling): the tile transfers alone, with more passes.
        int passes = tilesOnly ? 5 : 3;
        foreach (var (metric, ticket, rateTarget, sizeTarget) in gets.Where(g => !tilesOnly || (g.Metric.StartsWith("tile", StringComparison.Ordinal) && !putOnly)))
        {
            var t = new Ticket { Ticket_ = ByteString.CopyFrom(ticket.ToBytes()) };
            int warmUps = await WarmUp(() => DoGet(client, t));
            progress($"{metric} with our client ({warmUps} warm-up passes, then median of {passes})");
            var runs = new List<Pass>();
            for (int i = 0; i < passes; i++) runs.Add(await DoGet(client, t));
            var p = runs.OrderBy(g => g.Seconds).ElementAt(passes / 2);
            if (p.Weights != n) throw new InvalidOperationException($"{metric} returned {p.Weights} weights, expected {n}");
            AddTransfer(rows, "ours (C#)", metric, p, n, rateTarget, sizeTarget);
        }

        if (!tilesOnly)
        {
            progress($"durable row DoPut with our client (batches of 65,536 rows, dictionary-encoded module, {target.Description})");
            var rowPut = await DoPut(client, "bench-put-rows", modules, RowBatches(data, 65536));
            await Expect(client, "bench-put-rows", n);
            AddTransfer(rows, "ours (C#)", "row DoPut (set), durable", rowPut, n, null, null);
            // Deleted now, so that the checkpoints during the tile DoPut rewrite only what the tile DoPut wrote (the
            // 14 M-weight row adapter, still changed, would be rewritten by the first of them).
            await Delete(client, "bench-put-rows");
        }

        // Each pass writes a new adapter (deleted after it is checked); the median pass is reported.
        progress($"durable tile DoPut with our client (batches of 256 tiles, warm-up passes until the JIT is quiet, then median of {passes}, {target.Description})");
        var puts = new List<Pass>();
        async Task<Pass> PutPass(bool last)
        {
            var put = await DoPut(client, "bench-put-tiles", modules, tiles);
            await Expect(client, "bench-put-tiles", n);
            if (!last) await Delete(client, "bench-put-tiles");
            return put;
        }
        int putWarmUps = await WarmUp(() => PutPass(false));
        progress($"  after {putWarmUps} warm-up passes ({System.Runtime.JitInfo.GetCompiledMethodCount():N0} methods compiled so far)");
        var threadsBefore = ThreadCpu.Snapshot();
        for (int i = 0; i < passes; i++) puts.Add(await PutPass(i == passes - 1));
        AddTransfer(rows, "ours (C#)", "tile DoPut (set), durable", puts.OrderBy(g => g.Seconds).ElementAt(passes / 2), n, ">= 40 M", "<= 4.1");
        if (tilesOnly)
        {
            // The measured passes' CPU by thread: the store's long-lived named threads, and the rest (thread-pool threads
            // of client and server, JIT, GC), which come and go and so are counted as the process's total less those.
            var threadsAfter = ThreadCpu.Snapshot();
            double total = puts.Sum(p => p.CpuSeconds);
            double checkpoints = puts.Sum(p => Math.Max(0, p.CheckpointCpuSeconds)), fsyncs = ThreadCpu.Between(threadsBefore, threadsAfter, "hyprstream-wal-");
            double jit = ThreadCpu.Between(threadsBefore, threadsAfter, ".NET Tiered");
            double named = checkpoints + fsyncs + jit;
            rows.Add(new Row("ours (C#)", "tile DoPut, CPU of the store's checkpointer (mean of the passes)", checkpoints * 1e9 / (n * (double)passes), "CPU ns/weight", null));
            rows.Add(new Row("ours (C#)", "tile DoPut, CPU of the WAL's fsync thread", fsyncs * 1e9 / (n * (double)passes), "CPU ns/weight", null));
            rows.Add(new Row("ours (C#)", "tile DoPut, CPU of the runtime's JIT thread (tiered compilation)", jit * 1e9 / (n * (double)passes), "CPU ns/weight", null));
            rows.Add(new Row("ours (C#)", "tile DoPut, CPU of the rest: client, server, GC (mean)", Math.Max(0, total - named) * 1e9 / (n * (double)passes), "CPU ns/weight", null));
            await Delete(client, "bench-put-tiles");
            return rows;
        }

        // The cost of instrumentation: the same transfers against a service with metrics off and one with them on.
        rows.AddRange(await MetricsOverhead.RunAsync(start, System.IO.Path.Combine(workDir, "bench.vdb"), workDir, batchRows, n,
            async (c, t) =>
            {
                var p = await DoGet(c, t);
                return p.Weights == n ? p.Seconds : throw new InvalidOperationException($"DoGet returned {p.Weights} weights, expected {n}");
            },
            async (c, name) => (await DoPut(c, name, modules, tiles)).Seconds, progress));

        if (nodeScript != null)
        {
            progress("the Node apache-arrow client: row and tile DoGet, then DoPut of what it read, in both forms");
            var r = RunNode(nodeScript, target.Address);
            foreach (var (key, metric) in new[] { ("get_rows", "row DoGet"), ("get_tiles", "tile DoGet float32"), ("get_tiles_f16", "tile DoGet float16"),
                         ("put_rows", "row DoPut (set), durable"), ("put_tiles", "tile DoPut (set), durable") })
            {
                var e = r.GetProperty(key);
                var pass = new Pass(e.GetProperty("seconds").GetDouble(), e.GetProperty("bytes").GetInt64(), e.GetProperty("weights").GetInt64(), -1);
                if (pass.Weights != n) throw new InvalidOperationException($"Node {metric} moved {pass.Weights} weights, expected {n}");
                AddTransfer(rows, "Node apache-arrow", metric, pass, n, null, null);
            }
            await Expect(client, "bench-node-rows", n);
            await Expect(client, "bench-node-tiles", n);
        }
        foreach (var name in new[] { "bench-put-tiles", "bench-node-rows", "bench-node-tiles" })
            await Delete(client, name);
        return rows;
    }

    /// <summary>A ticket as the service reads it (JSON), written here rather than taken from the service's code.</summary>
    private sealed record FlightTicketJson(string Adapter, string Form, string? Dtype)
    {
        public byte[] ToBytes() => JsonSerializer.SerializeToUtf8Bytes(Dtype == null ? (object)new { adapter = Adapter, form = Form } : new { adapter = Adapter, form = Form, dtype = Dtype });
    }

    /// <param name="CpuSeconds">CPU time of this process (client and server) during the pass; -1 when not measured.
    /// On a shared machine it tracks the work a transfer costs better than its wall time does.</param>
    /// <param name="CheckpointCpuSeconds">the part of it spent by the store's checkpointer thread (-1: not measured).</param>
    private sealed record Pass(double Seconds, long WireBytes, long Weights, long Allocated, double CpuSeconds = -1, double CheckpointCpuSeconds = -1);

    private static double CpuNow() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;

    private static void AddTransfer(List<Row> rows, string client, string metric, Pass p, long n, string? rateTarget, string? sizeTarget)
    {
        rows.Add(new Row(client, metric, n / p.Seconds, "weights/s", rateTarget));
        rows.Add(new Row(client, metric, p.WireBytes / p.Seconds / 1e6, "MB/s", null));
        rows.Add(new Row(client, metric, (double)p.WireBytes / n, "B/weight", sizeTarget));
        if (p.Allocated >= 0) rows.Add(new Row(client, metric, (double)p.Allocated / p.WireBytes, "B allocated/B sent", null));
        if (p.CpuSeconds >= 0) rows.Add(new Row(client, metric, p.CpuSeconds * 1e9 / n, "CPU ns/weight", null));
        if (p.CheckpointCpuSeconds > 0) rows.Add(new Row(client, metric + ": of it, checkpoints", p.CheckpointCpuSeconds * 1e9 / n, "CPU ns/weight", null));
    }

    /// <summary>
    /// What a service that has run a while has done many times: per-call code (stream setup and teardown, headers,
    /// actions) is compiled at full optimization only after ~30 calls, and the bench's whole-adapter passes are too few
    /// for that (the JIT thread took ~25% of a DoPut pass's CPU after 8 of them). So first 40 small calls of each kind the
    /// bench makes: a small DoPut (set) into a scratch adapter, tile DoGets (float32, float16), a row DoGet, stats,
    /// GetFlightInfo, and a delete.
    /// </summary>
    private static async Task WarmUpCalls(FlightClient client, object modules, List<RecordBatch> tiles, Action<string> progress)
    {
        var few = tiles.Take(4).ToList();
        var tickets = new[] { new FlightTicketJson("bench-warm", "tiles", null), new("bench-warm", "tiles", "float16"), new("bench-warm", "rows", null) }
            .Select(t => new Ticket { Ticket_ = ByteString.CopyFrom(t.ToBytes()) }).ToList();
        for (int round = 1; round <= 10; round++)
        {
            var before = ThreadCpu.Snapshot();
            long methods = System.Runtime.JitInfo.GetCompiledMethodCount();
            for (int i = 0; i < 40; i++)
            {
                await DoPut(client, "bench-warm", modules, few);
                foreach (var t in tickets) await DoGet(client, t);
                await client.DoActionAsync("stats", JsonSerializer.SerializeToUtf8Bytes(new { adapter = "bench-warm" }));
                await client.GetFlightInfoAsync(Path("adapters", "bench-warm"));
                await Delete(client, "bench-warm");
            }
            // Tier-up starts once no new method has appeared for 100 ms: give it that, then the compiles it queues.
            await Task.Delay(500);
            double jit = ThreadCpu.Between(before, ThreadCpu.Snapshot(), ".NET Tiered");
            long compiled = System.Runtime.JitInfo.GetCompiledMethodCount() - methods;
            progress($"  round {round}: {compiled:N0} methods compiled, JIT thread {jit:F2} s");
            if (round >= 2 && compiled < 50) break;
        }
    }

    /// <summary>
    /// Warm-up passes until the runtime's tiered JIT is quiet (its thread used under 2% of a pass's CPU), at least 2 and
    /// at most 8: what is measured is the steady state of a service that has run a while. On this 2-core machine the JIT's
    /// background work in the first passes took up to a quarter of a DoPut's CPU, and recompiled methods tier up only
    /// after the runtime has seen no new ones for 100 ms.
    /// </summary>
    private static async Task<int> WarmUp(Func<Task<Pass>> pass)
    {
        for (int i = 1; ; i++)
        {
            var before = ThreadCpu.Snapshot();
            var p = await pass();
            double jit = ThreadCpu.Between(before, ThreadCpu.Snapshot(), ".NET Tiered");
            if (i >= 8 || (i >= 2 && (p.CpuSeconds <= 0 || jit < 0.02 * p.CpuSeconds))) return i;
        }
    }

    private static Task Delete(FlightClient client, string adapter) =>
        client.DoActionAsync("delete", JsonSerializer.SerializeToUtf8Bytes(new { adapter }));

    private static FlightDescriptor Path(params string[] path) => new() { Type = FlightDescriptor.Types.DescriptorType.Path, Path = { path } };

    private static async Task Expect(FlightClient client, string adapter, long n)
    {
        var result = await client.DoActionAsync("stats", JsonSerializer.SerializeToUtf8Bytes(new { adapter }));
        using var doc = JsonDocument.Parse(result.Single());
        var got = doc.RootElement.GetProperty("active_weights").GetInt64();
        if (got != n) throw new InvalidOperationException($"adapter '{adapter}' holds {got} weights after DoPut, expected {n}");
    }

    private static async Task<Pass> DoGet(FlightClient client, Ticket ticket)
    {
        long allocated = GC.GetTotalAllocatedBytes(precise: true);
        double cpu = CpuNow();
        var sw = Stopwatch.StartNew();
        long bytes = 0, weights = 0;
        await foreach (var b in client.DoGetAsync(ticket, ipcBytes: x => bytes += x))
        {
            switch (b.Column(3))
            {
                case FloatArray v: weights += v.Length; _ = v.Values[^1]; break;
                case FixedSizeListArray l:
                    // Tiles of a tile-structured adapter are full: every value is a stored weight.
                    weights += (long)l.Length * TileSize;
                    _ = l.Values switch { FloatArray f => f.Values[^1], HalfFloatArray h => (float)h.Values[^1], _ => 0 };
                    break;
            }
        }
        double s = sw.Elapsed.TotalSeconds;
        return new Pass(s, bytes, weights, GC.GetTotalAllocatedBytes(precise: true) - allocated, CpuNow() - cpu);
    }

    private static async Task<Pass> DoPut(FlightClient client, string adapter, object modules, List<RecordBatch> batches)
    {
        var cmd = new FlightDescriptor
        {
            Type = FlightDescriptor.Types.DescriptorType.Cmd,
            Cmd = ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(new { adapter, create = true, modules })),
        };
        long wire = 0;
        long allocated = GC.GetTotalAllocatedBytes(precise: true);
        var threads = ThreadCpu.Snapshot();
        double cpu = CpuNow();
        var sw = Stopwatch.StartNew();
        var acks = await client.DoPutAsync(cmd, batches[0].Schema, batches.Select(b => (b, (byte[]?)null)), ipcBytes: x => wire += x);
        double s = sw.Elapsed.TotalSeconds;
        if (acks.Count != batches.Count) throw new InvalidOperationException($"{acks.Count} acks for {batches.Count} batches");
        return new Pass(s, wire, batches.Sum(b => b.Column(3) is FixedSizeListArray l ? (long)l.Length * TileSize : b.Length), GC.GetTotalAllocatedBytes(precise: true) - allocated, CpuNow() - cpu, ThreadCpu.Between(threads, ThreadCpu.Snapshot(), "hyprstream-chec"));
    }

    private static JsonElement RunNode(string script, Uri address)
    {
        var proto = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(script)!, "..", "..", "src", "Hyprstream.Flight", "Protos", "Flight.proto");
        var psi = new ProcessStartInfo("node", [script, address.Authority, proto]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"node bench failed: {err.Result}");
        return JsonDocument.Parse(output).RootElement.Clone();
    }

    /// <summary>Row batches of the generated weights, the module column dictionary-encoded over every module name.</summary>
    private static List<RecordBatch> RowBatches(SyntheticAdapter data, int size)
    {
        var names = Columns.Utf8(data.Modules.Select(m => m.Name));
        var dictType = Columns.DictionaryOf(names.Length);
        var schema = new Schema([
            new Field("module", dictType, false), new Field("row", Int32Type.Default, false),
            new Field("col", Int32Type.Default, false), new Field("value", FloatType.Default, false)], null);
        var list = new List<RecordBatch>();
        for (int k = 0; k < data.Modules.Count; k++)
        {
            var m = data.Modules[k];
            for (int start = 0; start < m.Values.Length; start += size)
            {
                int len = Math.Min(size, m.Values.Length - start);
                list.Add(new RecordBatch(schema, [
                    new DictionaryArray(dictType, Columns.Int16(Enumerable.Repeat((short)k, len).ToArray(), len), names),
                    Columns.Int32(m.RowIdx[start..(start + len)], len),
                    Columns.Int32(m.ColIdx[start..(start + len)], len),
                    Columns.Float32(m.Values[start..(start + len)], len)], len));
            }
        }
        return list;
    }

    /// <summary>Tile batches of the generated weights: each stored weight placed in its 8×64 tile (row-major).</summary>
    private static List<RecordBatch> TileBatches(SyntheticAdapter data, int tilesPerBatch)
    {
        var names = Columns.Utf8(data.Modules.Select(m => m.Name));
        var dictType = Columns.DictionaryOf(names.Length);
        var schema = new Schema([
            new Field("module", dictType, false), new Field("tile_row", Int32Type.Default, false), new Field("tile_col", Int32Type.Default, false),
            new Field("values", new FixedSizeListType(new Field("item", FloatType.Default, false), TileSize), false)], null);
        var list = new List<RecordBatch>();
        for (int k = 0; k < data.Modules.Count; k++)
        {
            var m = data.Modules[k];
            var tiles = new SortedDictionary<(int, int), float[]>();
            for (int i = 0; i < m.Values.Length; i++)
            {
                var key = (m.RowIdx[i] >> 3, m.ColIdx[i] >> 6);
                if (!tiles.TryGetValue(key, out var t)) tiles[key] = t = new float[TileSize];
                t[(m.RowIdx[i] & 7) * 64 + (m.ColIdx[i] & 63)] = m.Values[i];
            }
            foreach (var chunk in tiles.Chunk(tilesPerBatch))
            {
                int c = chunk.Length;
                var values = new float[c * TileSize];
                for (int i = 0; i < c; i++) chunk[i].Value.CopyTo(values, i * TileSize);
                list.Add(new RecordBatch(schema, [
                    new DictionaryArray(dictType, Columns.Int16(Enumerable.Repeat((short)k, c).ToArray(), c), names),
                    Columns.Int32(chunk.Select(x => x.Key.Item1).ToArray(), c),
                    Columns.Int32(chunk.Select(x => x.Key.Item2).ToArray(), c),
                    Columns.FixedSizeList(Columns.Float32(values, values.Length), TileSize, c)], c));
            }
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
            int k;
            while ((k = cursor.Read(r, c, v)) > 0) total += k;
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

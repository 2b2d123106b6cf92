using System.Text.Json;
using Google.Protobuf;
using Hyprstream.Flight.Rpc;
using Hyprstream.Flight.Grpc;
using Hyprstream.Flight.Ipc;
using Hyprstream.Flight.Protocol;
using Hyprstream.Runtime;
using Hyprstream.Service;
using static Hyprstream.Tests.Service.FlightServiceTests;

namespace Hyprstream.Tests.Service;

/// <summary>DoPut: set/add batches, creation on demand, durability before the acknowledgement, bad batches change nothing.</summary>
[TestFixture]
public sealed class FlightPutTests
{
    private const string Q = "model.layers.0.self_attn.q_proj";

    internal static ArrowRecordBatch Batch(params (string Module, int Row, int Col, float Value)[] w) =>
        new(WeightSchema.Schema, w.Length, [
            ArrowArray.Utf8(w.Select(x => (string?)x.Module).ToList()),
            ArrowArray.Int32(w.Select(x => x.Row).ToArray()),
            ArrowArray.Int32(w.Select(x => x.Col).ToArray()),
            ArrowArray.Float32(w.Select(x => x.Value).ToArray()),
        ]);

    internal static object CreateCmd(string name) => new
    {
        adapter = name,
        create = true,
        base_model = "Qwen/Qwen3-1.7B",
        modules = new[] { new { name = Q, rows = 64, cols = 128, scale = 2.0 } },
    };

    [Test]
    public async Task DoPut_CreatesAdapter_SetsThenAdds_AndAcksOnlyWhatIsOnDisk()
    {
        await using var s = await FlightServer.StartAsync();
        var results = await s.Client.DoPutAsync(Cmd(CreateCmd("fresh")), WeightSchema.Schema, [
            (Batch((Q, 1, 2, 0.5f), (Q, 3, 4, -1f)), null),
            (Batch((Q, 1, 2, 0.25f), (Q, 63, 127, 2f)), "add"u8.ToArray()),
        ]);
        Assert.That(results, Has.Count.EqualTo(2));
        using (var ack = JsonDocument.Parse(results[1].AppMetadata.Memory))
        {
            Assert.That(ack.RootElement.GetProperty("batch").GetInt32(), Is.EqualTo(1));
            Assert.That(ack.RootElement.GetProperty("mode").GetString(), Is.EqualTo("add"));
        }
        // Acknowledged means in the write-ahead log: the store's files, copied now and recovered, hold both batches.
        using var onDisk = s.Durable("fresh")!;
        var m = onDisk.Modules[Q];
        Assert.That(m.Get(1, 2), Is.EqualTo(0.75f));
        Assert.That(m.Get(3, 4), Is.EqualTo(-1f));
        Assert.That(m.Get(63, 127), Is.EqualTo(2f));
        Assert.That(m.Scale, Is.EqualTo(2f));
        Assert.That(onDisk.BaseModel, Is.EqualTo("Qwen/Qwen3-1.7B"));
        var got = await ReadAll(s.Client, (await s.Client.GetFlightInfoAsync(Path("adapters", "fresh"))).Endpoint[0].Ticket);
        Assert.That(got, Is.EquivalentTo(new Dictionary<(string, int, int), float> { [(Q, 1, 2)] = 0.75f, [(Q, 3, 4)] = -1f, [(Q, 63, 127)] = 2f }));
    }

    [Test]
    public async Task DoPut_BadBatch_ChangesNothing_AndEarlierBatchesStay()
    {
        await using var s = await FlightServer.StartAsync();
        await s.Client.DoPutAsync(Cmd(CreateCmd("a")), WeightSchema.Schema, [(Batch((Q, 0, 0, 1f)), null)]);
        var cases = new (ArrowRecordBatch Batch, GrpcStatusCode Code)[]
        {
            (Batch((Q, 5, 5, 9f), (Q, 64, 0, 1f)), GrpcStatusCode.InvalidArgument),            // row out of range
            (Batch((Q, 5, 5, 9f), (Q, 1, 1, float.NaN)), GrpcStatusCode.InvalidArgument),      // NaN
            (Batch((Q, 5, 5, 9f), ("no.such.module", 1, 1, 1f)), GrpcStatusCode.NotFound),     // unknown module
            (Batch((Q, 5, 5, 9f), (Q, 0, 0, float.MaxValue), (Q, 0, 0, float.MaxValue)), GrpcStatusCode.InvalidArgument),
        };
        foreach (var (batch, code) in cases)
        {
            var mode = code == GrpcStatusCode.InvalidArgument && batch.Length == 3 ? "add"u8.ToArray() : null;
            var e = Assert.ThrowsAsync<GrpcException>(() => s.Client.DoPutAsync(Path("adapters", "a"), WeightSchema.Schema, [(batch, mode)]));
            Assert.That(e!.Status, Is.EqualTo(code), e.Detail);
        }
        var got = await ReadAll(s.Client, (await s.Client.GetFlightInfoAsync(Path("adapters", "a"))).Endpoint[0].Ticket);
        Assert.That(got, Is.EquivalentTo(new Dictionary<(string, int, int), float> { [(Q, 0, 0)] = 1f }));
    }

    [Test]
    public async Task DoPut_BadBatchEarlyInALongStream_EndsTheCall_KeepsBatchesBeforeIt()
    {
        await using var s = await FlightServer.StartAsync();
        await s.Client.DoPutAsync(Cmd(CreateCmd("a")), WeightSchema.Schema, []);
        var batches = Enumerable.Range(0, 200).Select(i => (Batch((Q, i % 64, i % 128, i == 2 ? float.NaN : 1f)), (byte[]?)null)).ToList();
        var put = s.Client.DoPutAsync(Path("adapters", "a"), WeightSchema.Schema, batches);
        Assert.That(await Task.WhenAny(put, Task.Delay(30_000)), Is.SameAs(put), "the client hung after the server ended the call");
        var e = Assert.ThrowsAsync<GrpcException>(() => put);
        Assert.That(e!.Status, Is.EqualTo(GrpcStatusCode.InvalidArgument));
        var got = await ReadAll(s.Client, (await s.Client.GetFlightInfoAsync(Path("adapters", "a"))).Endpoint[0].Ticket);
        Assert.That(got.Keys, Is.EquivalentTo(new[] { (Q, 0, 0), (Q, 1, 1) }));
    }

    [Test]
    public async Task DoPut_SchemaMismatch_IsInvalidArgument()
    {
        await using var s = await FlightServer.StartAsync();
        await s.Client.DoPutAsync(Cmd(CreateCmd("a")), WeightSchema.Schema, []);
        var wrong = new ArrowSchema([new ArrowField("module", ArrowType.Utf8), new ArrowField("row", ArrowType.Int64), new ArrowField("col", ArrowType.Int32), new ArrowField("value", ArrowType.Float32)]);
        var batch = new ArrowRecordBatch(wrong, 1, [ArrowArray.Utf8([Q]), ArrowArray.Int64([1]), ArrowArray.Int32([1]), ArrowArray.Float32([1f])]);
        var e = Assert.ThrowsAsync<GrpcException>(() => s.Client.DoPutAsync(Path("adapters", "a"), wrong, [(batch, null)]));
        Assert.That(e!.Status, Is.EqualTo(GrpcStatusCode.InvalidArgument));
        Assert.That(e.Detail, Does.Contain("schema"));
    }

    [Test]
    public async Task DoPut_UnknownAdapterWithoutCreate_IsNotFound()
    {
        await using var s = await FlightServer.StartAsync();
        var e = Assert.ThrowsAsync<GrpcException>(() => s.Client.DoPutAsync(Path("adapters", "ghost"), WeightSchema.Schema, [(Batch((Q, 0, 0, 1f)), null)]));
        Assert.That(e!.Status, Is.EqualTo(GrpcStatusCode.NotFound));
        Assert.That(File.Exists(s.Dir.File("ghost.vdb")), Is.False);
        Assert.That(s.Host.Store.Store.Contains("ghost"), Is.False);
        Assert.That(s.Durable("ghost"), Is.Null);
    }

    [TestCase("../evil")]
    [TestCase("a/b")]
    [TestCase("nul\0name")]
    [TestCase("..")]
    public async Task PathTricksInNames_AreRefused_AndWriteNothing(string name)
    {
        await using var s = await FlightServer.StartAsync();
        var e = Assert.ThrowsAsync<GrpcException>(() => s.Client.DoPutAsync(Cmd(CreateCmd(name)), WeightSchema.Schema, [(Batch((Q, 0, 0, 1f)), null)]));
        Assert.That(e!.Status, Is.EqualTo(GrpcStatusCode.InvalidArgument));
        e = Assert.ThrowsAsync<GrpcException>(() => s.Client.GetFlightInfoAsync(Path("adapters", name)));
        Assert.That(e!.Status, Is.EqualTo(GrpcStatusCode.InvalidArgument));
        e = Assert.ThrowsAsync<GrpcException>(() => s.Client.DoActionAsync("delete", JsonSerializer.SerializeToUtf8Bytes(new { adapter = name })));
        Assert.That(e!.Status, Is.EqualTo(GrpcStatusCode.InvalidArgument));
        Assert.That(Directory.GetFiles(s.Dir.Path), Is.Empty);
        Assert.That(Directory.GetFiles(System.IO.Path.GetDirectoryName(s.Dir.Path)!, "evil*"), Is.Empty);
    }

    [Test]
    public async Task ThirtyTwoConcurrentWriters_OneAdapter_LoseNoUpdate()
    {
        await using var s = await FlightServer.StartAsync();
        await s.Client.DoPutAsync(Cmd(CreateCmd("hot")), WeightSchema.Schema, []);
        // Every writer adds 1 to the same 16 cells, 4 batches each: each cell ends at 32 × 4. Each writer holds its
        // call open after its first batch is acknowledged until all 32 have got there, so the server really has 32
        // DoPut calls on the adapter in flight at once (a serial run cannot pass; the wait is only a hang guard).
        int open = 0;
        var allOpen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cells = Enumerable.Range(0, 16).Select(i => (Q, i, i * 3, 1f)).ToArray();
        var tasks = Enumerable.Range(0, 32).Select(async w =>
        {
            using var client = new FlightClient(s.Host.Address);
            await using var call = client.StartDoPut();
            var buf = new System.Buffers.ArrayBufferWriter<byte>();
            FlightDataEncoder.WriteSchema(buf, WeightSchema.Schema, Path("adapters", "hot"));
            await call.WriteFramedAsync(buf.WrittenMemory.ToArray());
            int acks = 0;
            for (int b = 0; b < 4; b++)
            {
                buf = new System.Buffers.ArrayBufferWriter<byte>();
                FlightDataEncoder.WriteBatch(buf, Batch(cells), "add"u8);
                await call.WriteFramedAsync(buf.WrittenMemory.ToArray());
                if (b > 0) continue;
                Assert.That(await call.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(60)), Is.Not.Null, $"writer {w}: first batch not acknowledged");
                acks++;
                if (Interlocked.Increment(ref open) == 32) allOpen.TrySetResult();
                await allOpen.Task.WaitAsync(TimeSpan.FromSeconds(120)); // hang guard: the server could not hold 32 calls
            }
            await call.CompleteRequestAsync();
            while (await call.ReadAsync() is { } m) { PutResult.Parser.ParseFrom(m); acks++; }
            Assert.That(acks, Is.EqualTo(4), $"writer {w}");
        }).ToList();
        await Task.WhenAll(tasks);
        Assert.That(open, Is.EqualTo(32), "all 32 calls were open at once");
        var got = await ReadAll(s.Client, (await s.Client.GetFlightInfoAsync(Path("adapters", "hot"))).Endpoint[0].Ticket);
        Assert.That(got, Has.Count.EqualTo(16));
        Assert.That(got.Values, Is.All.EqualTo(128f));
        using var onDisk = s.Durable("hot")!;
        Assert.That(onDisk.Modules[Q].Get(5, 15), Is.EqualTo(128f));
    }
}

using System.Text.Json;
using Apache.Arrow;
using Apache.Arrow.Types;
using Google.Protobuf;
using Hyprstream.Flight.Rpc;
using Grpc.Core;
using Hyprstream.Flight;
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

    /// <summary>The row form as a client that knows nothing of dictionaries sends it: a plain utf8 module column.</summary>
    internal static readonly Schema RowSchema = new([
        new Field("module", StringType.Default, false),
        new Field("row", Int32Type.Default, false),
        new Field("col", Int32Type.Default, false),
        new Field("value", FloatType.Default, false),
    ], null);

    internal static RecordBatch Batch(params (string Module, int Row, int Col, float Value)[] w) =>
        new(RowSchema, [
            Columns.Utf8(w.Select(x => x.Module)),
            Columns.Int32(w.Select(x => x.Row).ToArray(), w.Length),
            Columns.Int32(w.Select(x => x.Col).ToArray(), w.Length),
            Columns.Float32(w.Select(x => x.Value).ToArray(), w.Length),
        ], w.Length);

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
        var results = await s.Client.DoPutAsync(Cmd(CreateCmd("fresh")), RowSchema, [
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
        await s.Client.DoPutAsync(Cmd(CreateCmd("a")), RowSchema, [(Batch((Q, 0, 0, 1f)), null)]);
        var cases = new (RecordBatch Batch, StatusCode Code)[]
        {
            (Batch((Q, 5, 5, 9f), (Q, 64, 0, 1f)), StatusCode.InvalidArgument),            // row out of range
            (Batch((Q, 5, 5, 9f), (Q, 1, 1, float.NaN)), StatusCode.InvalidArgument),      // NaN
            (Batch((Q, 5, 5, 9f), ("no.such.module", 1, 1, 1f)), StatusCode.NotFound),     // unknown module
            (Batch((Q, 5, 5, 9f), (Q, 0, 0, float.MaxValue), (Q, 0, 0, float.MaxValue)), StatusCode.InvalidArgument),
        };
        foreach (var (batch, code) in cases)
        {
            var mode = code == StatusCode.InvalidArgument && batch.Length == 3 ? "add"u8.ToArray() : null;
            var e = Assert.ThrowsAsync<RpcException>(() => s.Client.DoPutAsync(Path("adapters", "a"), RowSchema, [(batch, mode)]));
            Assert.That(e!.StatusCode, Is.EqualTo(code), e.Status.Detail);
        }
        var got = await ReadAll(s.Client, (await s.Client.GetFlightInfoAsync(Path("adapters", "a"))).Endpoint[0].Ticket);
        Assert.That(got, Is.EquivalentTo(new Dictionary<(string, int, int), float> { [(Q, 0, 0)] = 1f }));
    }

    [Test]
    public async Task DoPut_BadBatchEarlyInALongStream_EndsTheCall_KeepsBatchesBeforeIt()
    {
        await using var s = await FlightServer.StartAsync();
        await s.Client.DoPutAsync(Cmd(CreateCmd("a")), RowSchema, []);
        var batches = Enumerable.Range(0, 200).Select(i => (Batch((Q, i % 64, i % 128, i == 2 ? float.NaN : 1f)), (byte[]?)null)).ToList();
        var put = s.Client.DoPutAsync(Path("adapters", "a"), RowSchema, batches);
        Assert.That(await Task.WhenAny(put, Task.Delay(30_000)), Is.SameAs(put), "the client hung after the server ended the call");
        var e = Assert.ThrowsAsync<RpcException>(() => put);
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        var got = await ReadAll(s.Client, (await s.Client.GetFlightInfoAsync(Path("adapters", "a"))).Endpoint[0].Ticket);
        Assert.That(got.Keys, Is.EquivalentTo(new[] { (Q, 0, 0), (Q, 1, 1) }));
    }

    [Test]
    public async Task DoPut_SchemaMismatch_IsInvalidArgument()
    {
        await using var s = await FlightServer.StartAsync();
        await s.Client.DoPutAsync(Cmd(CreateCmd("a")), RowSchema, []);
        var wrong = new Schema([new Field("module", StringType.Default, false), new Field("row", Int64Type.Default, false),
            new Field("col", Int32Type.Default, false), new Field("value", FloatType.Default, false)], null);
        var batch = new RecordBatch(wrong, [Columns.Utf8([Q]), new Int64Array.Builder().Append(1).Build(), Columns.Int32([1], 1), Columns.Float32([1f], 1)], 1);
        var e = Assert.ThrowsAsync<RpcException>(() => s.Client.DoPutAsync(Path("adapters", "a"), wrong, [(batch, null)]));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(e.Status.Detail, Does.Contain("schema"));
    }

    [Test]
    public async Task DoPut_UnknownAdapterWithoutCreate_IsNotFound()
    {
        await using var s = await FlightServer.StartAsync();
        var e = Assert.ThrowsAsync<RpcException>(() => s.Client.DoPutAsync(Path("adapters", "ghost"), RowSchema, [(Batch((Q, 0, 0, 1f)), null)]));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.NotFound));
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
        var e = Assert.ThrowsAsync<RpcException>(() => s.Client.DoPutAsync(Cmd(CreateCmd(name)), RowSchema, [(Batch((Q, 0, 0, 1f)), null)]));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        e = Assert.ThrowsAsync<RpcException>(() => s.Client.GetFlightInfoAsync(Path("adapters", name)));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        e = Assert.ThrowsAsync<RpcException>(() => s.Client.DoActionAsync("delete", JsonSerializer.SerializeToUtf8Bytes(new { adapter = name })));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(Directory.GetFiles(s.Dir.Path), Is.Empty);
        Assert.That(Directory.GetFiles(System.IO.Path.GetDirectoryName(s.Dir.Path)!, "evil*"), Is.Empty);
    }

    [Test]
    public async Task ThirtyTwoConcurrentWriters_OneAdapter_LoseNoUpdate()
    {
        await using var s = await FlightServer.StartAsync();
        await s.Client.DoPutAsync(Cmd(CreateCmd("hot")), RowSchema, []);
        // Every writer adds 1 to the same 16 cells, 4 batches each: each cell ends at 32 × 4. Each writer holds its
        // call open after its first batch is acknowledged until all 32 have got there, so the server really has 32
        // DoPut calls on the adapter in flight at once (a serial run cannot pass; the wait is only a hang guard).
        int open = 0;
        var allOpen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cells = Enumerable.Range(0, 16).Select(i => (Q, i, i * 3, 1f)).ToArray();
        var tasks = Enumerable.Range(0, 32).Select(async w =>
        {
            using var client = new FlightClient(s.Host.Address);
            using var call = client.StartDoPut();
            using var writer = new FlightDataWriter(RowSchema, call.RequestStream.WriteAsync, Path("adapters", "hot"));
            await writer.WriteSchemaAsync();
            int acks = 0;
            for (int b = 0; b < 4; b++)
            {
                await writer.WriteAsync(Batch(cells), ByteString.CopyFromUtf8("add"));
                if (b > 0) continue;
                Assert.That(await call.ResponseStream.MoveNext(default).WaitAsync(TimeSpan.FromSeconds(60)), Is.True, $"writer {w}: first batch not acknowledged");
                acks++;
                if (Interlocked.Increment(ref open) == 32) allOpen.TrySetResult();
                await allOpen.Task.WaitAsync(TimeSpan.FromSeconds(120)); // hang guard: the server could not hold 32 calls
            }
            await call.RequestStream.CompleteAsync();
            while (await call.ResponseStream.MoveNext(default)) acks++;
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

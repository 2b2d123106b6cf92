using System.Buffers;
using System.Text.Json;
using Google.Protobuf;
using Hyprstream.Flight.Rpc;
using Hyprstream.Flight.Grpc;
using Hyprstream.Flight.Ipc;
using Hyprstream.Flight.Protocol;
using Hyprstream.Runtime;
using Hyprstream.Service;
using static Hyprstream.Tests.Service.FlightPutTests;
using static Hyprstream.Tests.Service.FlightServiceTests;

namespace Hyprstream.Tests.Service;

/// <summary>Hostile or broken clients: each gets a clear status, the server keeps serving, nothing is lost.</summary>
[TestFixture]
public sealed class FlightBadInputTests
{
    private const string Q = "model.layers.0.self_attn.q_proj";

    private static async Task AssertStillServes(FlightServer s, int expectedWeights)
    {
        var got = await ReadAll(s.Client, (await s.Client.GetFlightInfoAsync(Path("adapters", "a"))).Endpoint[0].Ticket);
        Assert.That(got, Has.Count.EqualTo(expectedWeights));
    }

    private static async Task<FlightServer> WithAdapter(int maxMessage = 64 << 20)
    {
        var s = await FlightServer.StartAsync(maxMessage: maxMessage, batchRows: 64);
        await s.Client.DoPutAsync(Cmd(CreateCmd("a")), WeightSchema.Schema, [(Batch((Q, 0, 0, 1f), (Q, 1, 1, 2f)), null)]);
        return s;
    }

    [Test]
    public async Task MalformedProtobuf_IsInvalidArgument()
    {
        await using var s = await WithAdapter();
        byte[] garbage = [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 1, 2]; // field 1, length far past the end
        foreach (var path in new[] { FlightPaths.GetFlightInfo, FlightPaths.GetSchema, FlightPaths.DoGet, FlightPaths.DoAction })
        {
            var e = Assert.ThrowsAsync<GrpcException>(() => s.Client.Channel.UnaryAsync(path, garbage), path);
            Assert.That(e!.Status, Is.EqualTo(GrpcStatusCode.InvalidArgument), path);
        }
        await AssertStillServes(s, 2);
    }

    private static byte[] Framed(Action<IBufferWriter<byte>> write)
    {
        var buf = new ArrayBufferWriter<byte>();
        write(buf);
        return buf.WrittenMemory.ToArray();
    }

    private static async Task<GrpcException> PutRaw(FlightServer s, params byte[][] framedMessages)
    {
        await using var call = s.Client.StartDoPut();
        try
        {
            foreach (var m in framedMessages) await call.WriteFramedAsync(m);
            await call.CompleteRequestAsync();
        }
        catch (Exception) { /* the server may end the call early; its status is read below */ }
        return Assert.ThrowsAsync<GrpcException>(async () => { while (await call.ReadAsync() != null) { } })!;
    }

    [Test]
    public async Task TruncatedOrLyingIpc_OnDoPut_IsInvalidArgument_AndChangesNothing()
    {
        await using var s = await WithAdapter();
        var schemaMsg = Framed(o => FlightDataEncoder.WriteSchema(o, WeightSchema.Schema, Path("adapters", "a")));
        var (header, body) = ArrowIpcWriter.RecordBatchMessage(Batch((Q, 5, 5, 9f), (Q, 6, 6, 9f)));
        var full = body.ToArray();

        // Body shorter than the message says.
        var truncated = Framed(o => FlightDataEncoder.Write(o, header, new IpcBody([full.AsMemory(0, 16)])));
        var e = await PutRaw(s, schemaMsg, truncated);
        Assert.That(e.Status, Is.EqualTo(GrpcStatusCode.InvalidArgument), e.Detail);

        // A header that lies about its buffers (two missing).
        var rb = FlatBufferReader.Root(header).Table(2)!.Value;
        var lying = FlatBufferWriter.Finish(new FlatBufferTable().Short(0, 4).Byte(1, 3)
            .Table(2, new FlatBufferTable().Long(0, 2).LongPairs(1, rb.LongPairs(1)).LongPairs(2, rb.LongPairs(2).Take(7).ToList())).Long(3, full.Length));
        e = await PutRaw(s, schemaMsg, Framed(o => FlightDataEncoder.Write(o, lying, new IpcBody([full]))));
        Assert.That(e.Status, Is.EqualTo(GrpcStatusCode.InvalidArgument));
        Assert.That(e.Detail, Does.Contain("buffers"));

        // Metadata that is not a flatbuffer at all.
        e = await PutRaw(s, schemaMsg, Framed(o => FlightDataEncoder.Write(o, [1, 2, 3], IpcBody.Empty)));
        Assert.That(e.Status, Is.EqualTo(GrpcStatusCode.InvalidArgument));

        // A batch before any schema.
        e = await PutRaw(s, Framed(o => FlightDataEncoder.Write(o, header, new IpcBody([full]), default, Path("adapters", "a"))));
        Assert.That(e.Status, Is.EqualTo(GrpcStatusCode.InvalidArgument));

        // FlightData that is not protobuf at all (a length past the end).
        var garbage = new byte[5 + 4];
        Hyprstream.Flight.Grpc.GrpcFraming.WritePrefix(garbage, 4);
        new byte[] { 0x12, 0x7F, 1, 2 }.CopyTo(garbage, 5);
        e = await PutRaw(s, schemaMsg, garbage);
        Assert.That(e.Status, Is.EqualTo(GrpcStatusCode.InvalidArgument));
        Assert.That(e.Detail, Does.Contain("malformed"));

        // No descriptor on the first message.
        e = await PutRaw(s, Framed(o => FlightDataEncoder.WriteSchema(o, WeightSchema.Schema)));
        Assert.That(e.Status, Is.EqualTo(GrpcStatusCode.InvalidArgument));

        await AssertStillServes(s, 2);
        using var onDisk = s.Durable("a")!;
        Assert.That(onDisk.ActiveCount, Is.EqualTo(2));
    }

    [Test]
    public async Task OversizedMessage_IsResourceExhausted_AndServerKeepsServing()
    {
        await using var s = await WithAdapter(maxMessage: 1 << 20);
        var n = 200_000; // ~7 MB of FlightData
        var big = new ArrowRecordBatch(WeightSchema.Schema, n, [
            ArrowArray.Utf8(Enumerable.Repeat<string?>(Q, n).ToList()),
            ArrowArray.Int32(Enumerable.Range(0, n).Select(i => i % 64).ToArray()),
            ArrowArray.Int32(Enumerable.Range(0, n).Select(i => i % 128).ToArray()),
            ArrowArray.Float32(new float[n]),
        ]);
        var e = Assert.ThrowsAsync<GrpcException>(() => s.Client.DoPutAsync(Path("adapters", "a"), WeightSchema.Schema, [(big, null)]));
        Assert.That(e!.Status, Is.EqualTo(GrpcStatusCode.ResourceExhausted));
        await AssertStillServes(s, 2);
    }

    [Test]
    public async Task ClientDisconnect_MidDoGet_ServerKeepsServing()
    {
        await using var s = await FlightServer.StartAsync(batchRows: 16);
        var weights = Enumerable.Range(0, 4000).Select(i => (Q, i % 64, i / 64 % 128, 1f + i)).ToArray();
        await s.Client.DoPutAsync(Cmd(CreateCmd("a")), WeightSchema.Schema, [(Batch(weights), null)]);
        using (var cts = new CancellationTokenSource())
        {
            int seen = 0;
            Assert.CatchAsync(async () =>
            {
                await foreach (var _ in s.Client.DoGetAsync(new Ticket { Ticket_ = ByteString.CopyFromUtf8("{\"adapter\":\"a\"}") }, cts.Token))
                    if (++seen == 2) cts.Cancel();
            });
            Assert.That(seen, Is.EqualTo(2));
        }
        await AssertStillServes(s, 4000);
    }

    [Test]
    public async Task DoPut_ClientDisconnectsMidStream_AcknowledgedBatchesAreKept()
    {
        await using var s = await WithAdapter();
        var call = s.Client.StartDoPut();
        await call.WriteFramedAsync(Framed(o => FlightDataEncoder.WriteSchema(o, WeightSchema.Schema, Path("adapters", "a"))));
        await call.WriteFramedAsync(Framed(o => FlightDataEncoder.WriteBatch(o, Batch((Q, 10, 10, 5f)))));
        var ack = await call.ReadAsync();
        Assert.That(ack, Is.Not.Null);
        await call.DisposeAsync(); // gone without finishing
        await AssertStillServes(s, 3);
        using var onDisk = s.Durable("a")!;
        Assert.That(onDisk.Modules[Q].Get(10, 10), Is.EqualTo(5f));
    }
}

using System.Text.Json;
using Apache.Arrow;
using Google.Protobuf;
using Grpc.Core;
using Hyprstream.Flight.Ipc;
using Hyprstream.Flight.Protocol;
using Hyprstream.Service;
using Hyprstream.Tests.Flight;
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
        await s.Client.DoPutAsync(Cmd(CreateCmd("a")), RowSchema, [(Batch((Q, 0, 0, 1f), (Q, 1, 1, 2f)), null)]);
        return s;
    }

    [Test]
    public async Task MalformedProtobuf_IsInvalidArgument()
    {
        await using var s = await WithAdapter();
        byte[] garbage = [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 1, 2]; // field 1, length far past the end
        var invoker = s.Client.Invoker;
        foreach (var name in new[] { "GetFlightInfo", "GetSchema" })
        {
            var e = Assert.Throws<RpcException>(() => invoker.BlockingUnaryCall(FlightMessages.Raw(MethodType.Unary, name), null, new CallOptions(), garbage), name);
            Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), name);
            Assert.That(e.Status.Detail, Does.Contain("malformed"), name);
        }
        foreach (var name in new[] { "DoGet", "DoAction", "ListFlights" })
        {
            using var call = invoker.AsyncServerStreamingCall(FlightMessages.Raw(MethodType.ServerStreaming, name), null, new CallOptions(), garbage);
            var e = Assert.ThrowsAsync<RpcException>(async () => { while (await call.ResponseStream.MoveNext(default)) { } }, name);
            Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), name);
        }
        await AssertStillServes(s, 2);
    }

    /// <summary>Sends raw FlightData messages as one DoPut; returns the status it ends with (the call must fail).</summary>
    private static async Task<RpcException> PutRaw(FlightServer s, params object[] messages)
    {
        using var call = s.Client.Invoker.AsyncDuplexStreamingCall(FlightMessages.Raw(MethodType.DuplexStreaming, "DoPut"), null, s.Client.Options());
        try
        {
            foreach (var m in messages) await call.RequestStream.WriteAsync(m as byte[] ?? ((IMessage)m).ToByteArray());
            await call.RequestStream.CompleteAsync();
        }
        catch (Exception) { /* the server may end the call early; its status is read below */ }
        return Assert.ThrowsAsync<RpcException>(async () => { while (await call.ResponseStream.MoveNext(default)) { } })!;
    }

    [Test]
    public async Task TruncatedOrLyingIpc_OnDoPut_IsInvalidArgument_AndChangesNothing()
    {
        await using var s = await WithAdapter();
        var messages = FlightMessages.Of(RowSchema, [Batch((Q, 5, 5, 9f), (Q, 6, 6, 9f))], Path("adapters", "a"));
        var (schema, batch) = (messages[0], messages[1]);

        // Body shorter than the message says.
        var truncated = batch.Clone();
        truncated.DataBody = ByteString.CopyFrom(batch.DataBody.Span[..16]);
        var e = await PutRaw(s, schema, truncated);
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), e.Status.Detail);
        Assert.That(e.Status.Detail, Does.Contain("body"));

        // Metadata that is not a flatbuffer at all.
        var garbled = batch.Clone();
        garbled.DataHeader = ByteString.CopyFrom(1, 2, 3);
        e = await PutRaw(s, schema, garbled);
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), e.Status.Detail);

        // A body with bytes the header does not account for.
        var padded = batch.Clone();
        padded.DataBody = ByteString.CopyFrom([.. batch.DataBody.ToByteArray(), .. new byte[64]]);
        e = await PutRaw(s, schema, padded);
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), e.Status.Detail);

        // A batch before any schema.
        var first = batch.Clone();
        first.FlightDescriptor = Path("adapters", "a");
        e = await PutRaw(s, first);
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), e.Status.Detail);

        // FlightData that is not protobuf at all (a length past the end).
        e = await PutRaw(s, schema, new byte[] { 0x12, 0x7F, 1, 2 });
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(e.Status.Detail, Does.Contain("malformed"));

        // No descriptor on the first message.
        var bare = schema.Clone();
        bare.FlightDescriptor = null;
        e = await PutRaw(s, bare, batch);
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(e.Status.Detail, Does.Contain("descriptor"));

        // Every byte of the batch's metadata flipped in turn: refused, or (a flip that changes nothing that matters) taken whole.
        var rng = new Random(7);
        for (int k = 0; k < 24; k++)
        {
            var flipped = batch.Clone();
            var h = batch.DataHeader.ToByteArray();
            h[rng.Next(h.Length)] ^= (byte)(1 + rng.Next(255));
            flipped.DataHeader = ByteString.CopyFrom(h);
            using var call = s.Client.StartDoPut();
            try
            {
                await call.RequestStream.WriteAsync(schema);
                await call.RequestStream.WriteAsync(flipped);
                await call.RequestStream.CompleteAsync();
                while (await call.ResponseStream.MoveNext(default)) { }
            }
            catch (RpcException x) { Assert.That(x.StatusCode, Is.AnyOf(StatusCode.InvalidArgument, StatusCode.NotFound), x.Status.Detail); }
        }

        await AssertStillServes(s, s.Host.Store.Store.Info("a").ActiveCount is var live ? (int)live : 0);
        using var onDisk = s.Durable("a")!;
        Assert.That(onDisk.ActiveCount, Is.EqualTo(s.Host.Store.Store.Info("a").ActiveCount), "what is served is what is durable");
    }

    [Test]
    public async Task OversizedMessage_IsResourceExhausted_AndServerKeepsServing()
    {
        await using var s = await WithAdapter(maxMessage: 1 << 20);
        var n = 200_000; // ~7 MB of FlightData
        var big = Batch(Enumerable.Range(0, n).Select(i => (Q, i % 64, i % 128, 0f)).ToArray());
        var e = Assert.ThrowsAsync<RpcException>(() => s.Client.DoPutAsync(Path("adapters", "a"), RowSchema, [(big, null)]));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted));
        await AssertStillServes(s, 2);
    }

    [Test]
    public async Task ClientDisconnect_MidDoGet_ServerKeepsServing()
    {
        await using var s = await FlightServer.StartAsync(batchRows: 16);
        var weights = Enumerable.Range(0, 4000).Select(i => (Q, i % 64, i / 64 % 128, 1f + i)).ToArray();
        await s.Client.DoPutAsync(Cmd(CreateCmd("a")), RowSchema, [(Batch(weights), null)]);
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
        var messages = FlightMessages.Of(RowSchema, [Batch((Q, 10, 10, 5f))], Path("adapters", "a"));
        var call = s.Client.StartDoPut();
        foreach (var m in messages) await call.RequestStream.WriteAsync(m);
        Assert.That(await call.ResponseStream.MoveNext(default), Is.True, "the batch is acknowledged");
        call.Dispose(); // gone without finishing
        await AssertStillServes(s, 3);
        using var onDisk = s.Durable("a")!;
        Assert.That(onDisk.Modules[Q].Get(10, 10), Is.EqualTo(5f));
    }
}

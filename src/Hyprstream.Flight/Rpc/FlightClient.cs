using Apache.Arrow;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Hyprstream.Flight.Ipc;
using Hyprstream.Flight.Protocol;

namespace Hyprstream.Flight.Rpc;

/// <summary>
/// A Flight client: the client stubs generated from Flight.proto on a grpc-dotnet channel, with DoGet decoded into
/// Apache.Arrow record batches and DoPut encoding them (dictionaries and compressed bodies included). Used by the
/// tests and `hyprstream bench flight`; any other Flight client works too.
/// </summary>
public sealed class FlightClient : IDisposable
{
    private readonly GrpcChannel _channel;

    public FlightClient(Uri address, int maxReceiveMessageSize = 256 << 20, HttpMessageHandler? handler = null)
    {
        _channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            MaxReceiveMessageSize = maxReceiveMessageSize,
            MaxSendMessageSize = null,
            HttpHandler = handler ?? new SocketsHttpHandler
            {
                EnableMultipleHttp2Connections = true,
                InitialHttp2StreamWindowSize = 16 << 20,
                PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            },
        });
        Stub = new FlightService.FlightServiceClient(_channel);
    }

    /// <summary>The generated client, for calls this class does not wrap.</summary>
    public FlightService.FlightServiceClient Stub { get; }

    /// <summary>The channel's invoker, for raw calls (tests that send bytes of their own).</summary>
    public CallInvoker Invoker => _channel.CreateCallInvoker();

    /// <summary>Sent as `authorization: Bearer …` on every call once set (Handshake sets it).</summary>
    public string? Token { get; set; }

    public CallOptions Options(TimeSpan? timeout = null, CancellationToken ct = default)
    {
        var headers = Token == null ? null : new Metadata { { "authorization", "Bearer " + Token } };
        return new CallOptions(headers, timeout is { } t ? DateTime.UtcNow + t : null, ct);
    }

    /// <summary>Handshake with the token as payload; returns the server's payload and keeps the token for later calls.</summary>
    public async Task<byte[]> HandshakeAsync(string token, CancellationToken ct = default)
    {
        using var call = Stub.Handshake(new CallOptions(cancellationToken: ct));
        await call.RequestStream.WriteAsync(new HandshakeRequest { ProtocolVersion = 1, Payload = ByteString.CopyFromUtf8(token) }, ct);
        await call.RequestStream.CompleteAsync();
        HandshakeResponse? reply = null;
        await foreach (var r in call.ResponseStream.ReadAllAsync(ct)) reply ??= r;
        if (reply == null) throw new RpcException(new Status(StatusCode.Internal, "the server sent no handshake response"));
        Token = token;
        return reply.Payload.ToByteArray();
    }

    public async Task<List<FlightInfo>> ListFlightsAsync(byte[]? expression = null, CancellationToken ct = default)
    {
        using var call = Stub.ListFlights(new Criteria { Expression = ByteString.CopyFrom(expression ?? []) }, Options(ct: ct));
        var list = new List<FlightInfo>();
        await foreach (var f in call.ResponseStream.ReadAllAsync(ct)) list.Add(f);
        return list;
    }

    public async Task<FlightInfo> GetFlightInfoAsync(FlightDescriptor d, CancellationToken ct = default) =>
        await Stub.GetFlightInfoAsync(d, Options(ct: ct));

    public async Task<Schema> GetSchemaAsync(FlightDescriptor d, CancellationToken ct = default) =>
        SchemaBytes.Decode((await Stub.GetSchemaAsync(d, Options(ct: ct))).Schema.Memory);

    /// <summary>
    /// DoGet: the stream's record batches as they arrive (each carries the schema). A batch is disposed when the
    /// next one is requested: copy what must outlive it. <paramref name="ipcBytes"/> receives the Arrow bytes
    /// (metadata + bodies) of each message.
    /// </summary>
    public async IAsyncEnumerable<RecordBatch> DoGetAsync(Ticket ticket, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default,
        Action<long>? ipcBytes = null)
    {
        // Bodies land in pooled arrays (PooledFlightData), each returned once the next message is asked for: by then
        // the Arrow reader has copied the previous one.
        using var call = Invoker.AsyncServerStreamingCall(FlightMethods.DoGetPooled, null, Options(ct: ct), ticket);
        using var reader = FlightDataReader.From(call.ResponseStream);
        long seen = 0;
        while (await reader.ReadAsync(ct) is { } batch)
        {
            ipcBytes?.Invoke(reader.IpcBytes - seen);
            seen = reader.IpcBytes;
            try { yield return batch; }
            finally { batch.Dispose(); }
        }
    }

    /// <summary>
    /// DoPut: the schema with the descriptor, then each batch (with its app metadata); returns the PutResults. Batches
    /// are written without waiting for acknowledgements; results are read concurrently. An error status from the
    /// server is thrown as <see cref="RpcException"/> once every result before it has been read.
    /// </summary>
    public async Task<List<PutResult>> DoPutAsync(FlightDescriptor descriptor, Schema schema, IEnumerable<(RecordBatch Batch, byte[]? AppMetadata)> batches,
        IpcCompression compression = IpcCompression.None, CancellationToken ct = default, Action<long>? ipcBytes = null)
    {
        using var call = Stub.DoPut(Options(ct: ct));
        var results = new List<PutResult>();
        var reader = Task.Run(async () =>
        {
            await foreach (var r in call.ResponseStream.ReadAllAsync(ct)) results.Add(r);
        }, ct);
        try
        {
            using var writer = new FlightDataWriter(schema, d => call.RequestStream.WriteAsync(d, ct), descriptor, compression);
            await writer.WriteSchemaAsync(ct);
            foreach (var (batch, meta) in batches)
            {
                if (reader.IsCompleted) break; // the server ended the call (an error); the reader has it
                long before = writer.IpcBytes;
                await writer.WriteAsync(batch, meta == null ? null : ByteString.CopyFrom(meta), ct);
                ipcBytes?.Invoke(writer.IpcBytes - before);
            }
            await call.RequestStream.CompleteAsync();
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException or IOException && !ct.IsCancellationRequested)
        {
            // The server ended the call early (an error status): the reader reports it.
        }
        await reader;
        return results;
    }

    /// <summary>Starts a raw DoPut for callers that write their own FlightData (bad-input tests).</summary>
    public AsyncDuplexStreamingCall<FlightData, PutResult> StartDoPut(CancellationToken ct = default) => Stub.DoPut(Options(ct: ct));

    public async Task<List<byte[]>> DoActionAsync(string type, byte[]? body = null, CancellationToken ct = default)
    {
        using var call = Stub.DoAction(new Protocol.Action { Type = type, Body = ByteString.CopyFrom(body ?? []) }, Options(ct: ct));
        var list = new List<byte[]>();
        await foreach (var r in call.ResponseStream.ReadAllAsync(ct)) list.Add(r.Body.ToByteArray());
        return list;
    }

    public async Task<List<ActionType>> ListActionsAsync(CancellationToken ct = default)
    {
        using var call = Stub.ListActions(new Empty(), Options(ct: ct));
        var list = new List<ActionType>();
        await foreach (var a in call.ResponseStream.ReadAllAsync(ct)) list.Add(a);
        return list;
    }

    public void Dispose() => _channel.Dispose();
}

using System.Buffers;
using Google.Protobuf;
using Hyprstream.Flight.Grpc;
using Hyprstream.Flight.Ipc;
using Hyprstream.Flight.Protocol;

namespace Hyprstream.Flight.Rpc;

/// <summary>
/// A Flight client on our gRPC channel: the RPCs with protocol messages in and out, DoGet decoded into record
/// batches, DoPut encoding them. Used by the tests and `hyprstream bench flight`; any other Flight client works too.
/// </summary>
public sealed class FlightClient : IDisposable
{
    private readonly GrpcChannel _channel;

    public FlightClient(Uri address, int maxReceiveMessageSize = 256 << 20) => _channel = new GrpcChannel(address, maxReceiveMessageSize);

    /// <summary>Sent as `authorization: Bearer …` on every call once set (Handshake sets it).</summary>
    public string? Token { get; set; }

    public GrpcChannel Channel => _channel;

    public GrpcCallOptions Options(TimeSpan? timeout = null, CancellationToken ct = default) => new()
    {
        Timeout = timeout,
        CancellationToken = ct,
        Headers = Token == null ? null : new Dictionary<string, string> { ["authorization"] = "Bearer " + Token },
    };

    /// <summary>Handshake with the token as payload (and as bearer header); returns the server's payload.</summary>
    public async Task<byte[]> HandshakeAsync(string token, CancellationToken ct = default)
    {
        Token = token;
        await using var call = _channel.Start(FlightPaths.Handshake, Options(ct: ct));
        await call.WriteAsync(new HandshakeRequest { ProtocolVersion = 1, Payload = ByteString.CopyFromUtf8(token) }.ToByteArray());
        await call.CompleteRequestAsync();
        var reply = HandshakeResponse.Parser.ParseFrom(await call.ReadAsync() ?? throw new GrpcException(GrpcStatusCode.Internal, "no handshake response"));
        while (await call.ReadAsync() != null) { }
        return reply.Payload.ToByteArray();
    }

    public async Task<List<FlightInfo>> ListFlightsAsync(byte[]? expression = null, CancellationToken ct = default)
    {
        var list = new List<FlightInfo>();
        var criteria = new Criteria { Expression = ByteString.CopyFrom(expression ?? []) };
        await foreach (var m in _channel.ServerStreamingAsync(FlightPaths.ListFlights, criteria.ToByteArray(), Options(ct: ct)))
            list.Add(FlightInfo.Parser.ParseFrom(m));
        return list;
    }

    public async Task<FlightInfo> GetFlightInfoAsync(FlightDescriptor d, CancellationToken ct = default) =>
        FlightInfo.Parser.ParseFrom(await _channel.UnaryAsync(FlightPaths.GetFlightInfo, d.ToByteArray(), Options(ct: ct)));

    public async Task<ArrowSchema> GetSchemaAsync(FlightDescriptor d, CancellationToken ct = default) =>
        ArrowIpcReader.ReadEncapsulatedSchema(SchemaResult.Parser.ParseFrom(await _channel.UnaryAsync(FlightPaths.GetSchema, d.ToByteArray(), Options(ct: ct))).Schema.Memory);

    /// <summary>
    /// DoGet: the stream's record batches as they arrive (the schema is on each batch). A batch's buffers are slices
    /// of a pooled receive buffer: it is valid until the next batch is requested (copy what must outlive that).
    /// </summary>
    public async IAsyncEnumerable<ArrowRecordBatch> DoGetAsync(Ticket ticket, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default,
        Action<long>? arrowBytes = null)
    {
        var decoder = new FlightDataDecoder();
        await using var call = _channel.Start(FlightPaths.DoGet, Options(ct: ct));
        await call.WriteAsync(ticket.ToByteArray());
        await call.CompleteRequestAsync();
        while (await call.ReadPooledAsync() is var (buffer, length))
        {
            try
            {
                var data = FlightDataView.Parse(buffer.AsMemory(0, length));
                arrowBytes?.Invoke(data.Header.Length + data.Body.Length);
                if (decoder.Decode(data) is { } batch) yield return batch;
            }
            finally { System.Buffers.ArrayPool<byte>.Shared.Return(buffer); }
        }
    }

    /// <summary>
    /// DoPut: the schema with the descriptor, then each batch (with its app metadata); returns the PutResults. Batches
    /// are written without waiting for acknowledgements; results are read concurrently.
    /// </summary>
    public async Task<List<PutResult>> DoPutAsync(FlightDescriptor descriptor, ArrowSchema schema, IEnumerable<(ArrowRecordBatch Batch, byte[]? AppMetadata)> batches,
        CancellationToken ct = default)
    {
        await using var call = _channel.Start(FlightPaths.DoPut, Options(ct: ct));
        var results = new List<PutResult>();
        var reader = Task.Run(async () =>
        {
            while (await call.ReadAsync() is { } m) results.Add(PutResult.Parser.ParseFrom(m));
        }, ct);
        try
        {
            var buf = new ArrayBufferWriter<byte>();
            FlightDataEncoder.WriteSchema(buf, schema, descriptor);
            await call.WriteFramedAsync(buf.WrittenMemory.ToArray());
            foreach (var (batch, meta) in batches)
            {
                buf = new ArrayBufferWriter<byte>();
                FlightDataEncoder.WriteBatch(buf, batch, meta);
                await call.WriteFramedAsync(buf.WrittenMemory);
                if (reader.IsCompleted) break; // the server ended the call (an error); the reader has it
            }
            await call.CompleteRequestAsync();
        }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
            // The server ended the call early (an error status): the reader reports it.
            await call.CompleteRequestAsync();
        }
        await reader;
        return results;
    }

    /// <summary>Starts a raw DoPut for callers that write their own FlightData (bad-input tests).</summary>
    public GrpcClientCall StartDoPut(CancellationToken ct = default) => _channel.Start(FlightPaths.DoPut, Options(ct: ct));

    public async Task<List<byte[]>> DoActionAsync(string type, byte[]? body = null, CancellationToken ct = default)
    {
        var list = new List<byte[]>();
        var action = new Protocol.Action { Type = type, Body = ByteString.CopyFrom(body ?? []) };
        await foreach (var m in _channel.ServerStreamingAsync(FlightPaths.DoAction, action.ToByteArray(), Options(ct: ct)))
            list.Add(Result.Parser.ParseFrom(m).Body.ToByteArray());
        return list;
    }

    public async Task<List<ActionType>> ListActionsAsync(CancellationToken ct = default)
    {
        var list = new List<ActionType>();
        await foreach (var m in _channel.ServerStreamingAsync(FlightPaths.ListActions, new Empty().ToByteArray(), Options(ct: ct)))
            list.Add(ActionType.Parser.ParseFrom(m));
        return list;
    }

    public void Dispose() => _channel.Dispose();
}

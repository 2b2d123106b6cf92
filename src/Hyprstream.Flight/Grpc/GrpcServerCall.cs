using System.IO.Pipelines;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;

namespace Hyprstream.Flight.Grpc;

/// <summary>
/// One incoming call as a handler sees it: request messages in, response messages out, the request headers, and a
/// token that fires when the client goes away or the deadline passes. Works for all four call shapes.
/// </summary>
public sealed class GrpcServerCall
{
    private readonly HttpContext _http;
    private bool _started;

    internal GrpcServerCall(HttpContext http, string method, int maxMessageSize, DateTime? deadline, CancellationToken ct)
    {
        _http = http;
        Method = method;
        MaxMessageSize = maxMessageSize;
        Deadline = deadline;
        CancellationToken = ct;
    }

    /// <summary>The method name after the service (e.g. "DoGet").</summary>
    public string Method { get; }
    public int MaxMessageSize { get; }
    public DateTime? Deadline { get; }
    public CancellationToken CancellationToken { get; }
    public IHeaderDictionary RequestHeaders => _http.Request.Headers;
    public IHeaderDictionary ResponseHeaders => _http.Response.Headers;

    /// <summary>The next request message, or null once the client has finished sending.</summary>
    public ValueTask<byte[]?> ReadMessageAsync() =>
        GrpcFraming.ReadMessageAsync(_http.Request.BodyReader, MaxMessageSize, CancellationToken);

    /// <summary>The next request message parsed; null at end of stream. Malformed bytes are INVALID_ARGUMENT.</summary>
    public async ValueTask<T?> ReadAsync<T>(MessageParser<T> parser) where T : class, IMessage<T>
    {
        var bytes = await ReadMessageAsync().ConfigureAwait(false);
        return bytes == null ? null : Parse(parser, bytes);
    }

    /// <summary>The one request of a unary or server-streaming call.</summary>
    public async ValueTask<T> ReadSingleAsync<T>(MessageParser<T> parser) where T : class, IMessage<T>
    {
        var msg = await ReadAsync(parser).ConfigureAwait(false)
            ?? throw new GrpcException(GrpcStatusCode.Internal, "the call has no request message");
        return msg;
    }

    public static T Parse<T>(MessageParser<T> parser, byte[] bytes) where T : IMessage<T>
    {
        try { return parser.ParseFrom(bytes); }
        catch (InvalidProtocolBufferException e)
        {
            throw new GrpcException(GrpcStatusCode.InvalidArgument, $"malformed {typeof(T).Name} message: {e.Message}");
        }
    }

    /// <summary>Writes one message and flushes it, so a streamed response really streams.</summary>
    public async ValueTask WriteAsync(IMessage message)
    {
        int size = message.CalculateSize();
        var writer = await StartAsync().ConfigureAwait(false);
        var span = writer.GetSpan(GrpcFraming.PrefixSize + size);
        GrpcFraming.WritePrefix(span, size);
        message.WriteTo(span.Slice(GrpcFraming.PrefixSize, size));
        writer.Advance(GrpcFraming.PrefixSize + size);
        await FlushAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// The raw response pipe, for writers that build a message in place (zero-copy FlightData). They must write whole
    /// length-prefixed messages and call <see cref="FlushAsync"/>.
    /// </summary>
    public async ValueTask<PipeWriter> StartAsync()
    {
        if (!_started)
        {
            _started = true;
            await _http.Response.StartAsync(CancellationToken).ConfigureAwait(false);
        }
        return _http.Response.BodyWriter;
    }

    public async ValueTask FlushAsync()
    {
        var r = await _http.Response.BodyWriter.FlushAsync(CancellationToken).ConfigureAwait(false);
        if (r.IsCanceled || r.IsCompleted) throw new OperationCanceledException("the client went away");
    }
}

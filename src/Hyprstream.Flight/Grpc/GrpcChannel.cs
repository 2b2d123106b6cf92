using System.Net;
using System.Net.Http.Headers;

namespace Hyprstream.Flight.Grpc;

/// <summary>Per-call options for <see cref="GrpcChannel"/>.</summary>
public sealed record GrpcCallOptions
{
    public TimeSpan? Timeout { get; init; }
    public IReadOnlyDictionary<string, string>? Headers { get; init; }
    public CancellationToken CancellationToken { get; init; }
}

/// <summary>
/// A gRPC client on HttpClient (HTTP/2 only, RequestVersionExact, so http:// is prior-knowledge h2c). Used by our
/// tests, tools and benchmark; one channel multiplexes calls over one connection.
/// </summary>
public sealed class GrpcChannel : IDisposable
{
    private readonly HttpClient _http;

    public GrpcChannel(Uri address, int maxReceiveMessageSize = 256 << 20, HttpMessageHandler? handler = null)
    {
        Address = address;
        MaxReceiveMessageSize = maxReceiveMessageSize;
        _http = new HttpClient(handler ?? new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = false,
            InitialHttp2StreamWindowSize = 16 << 20,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
        })
        { Timeout = Timeout.InfiniteTimeSpan, BaseAddress = address };
    }

    public Uri Address { get; }
    public int MaxReceiveMessageSize { get; }

    /// <summary>Starts a call of any shape: write requests, complete, read responses; the status comes at the end.</summary>
    public GrpcClientCall Start(string path, GrpcCallOptions? options = null)
    {
        options ??= new GrpcCallOptions();
        var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Headers.TryAddWithoutValidation("te", "trailers");
        if (options.Timeout is { } t) request.Headers.TryAddWithoutValidation("grpc-timeout", GrpcTimeout.Format(t));
        if (options.Headers != null)
            foreach (var (k, v) in options.Headers) request.Headers.TryAddWithoutValidation(k, v);
        var content = new GrpcPushContent();
        content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Content = content;
        return new GrpcClientCall(_http, request, content, MaxReceiveMessageSize, options);
    }

    /// <summary>A unary call: one request, one response.</summary>
    public async Task<byte[]> UnaryAsync(string path, byte[] request, GrpcCallOptions? options = null)
    {
        await using var call = Start(path, options);
        await call.WriteAsync(request).ConfigureAwait(false);
        await call.CompleteRequestAsync().ConfigureAwait(false);
        var response = await call.ReadAsync().ConfigureAwait(false);
        if (await call.ReadAsync().ConfigureAwait(false) != null)
            throw new GrpcException(GrpcStatusCode.Internal, "a unary call returned more than one message");
        return response ?? throw new GrpcException(GrpcStatusCode.Internal, "a unary call returned no message");
    }

    /// <summary>A server-streaming call: one request, the responses as they arrive.</summary>
    public async IAsyncEnumerable<byte[]> ServerStreamingAsync(string path, byte[] request, GrpcCallOptions? options = null)
    {
        await using var call = Start(path, options);
        await call.WriteAsync(request).ConfigureAwait(false);
        await call.CompleteRequestAsync().ConfigureAwait(false);
        while (await call.ReadAsync().ConfigureAwait(false) is { } msg) yield return msg;
    }

    public void Dispose() => _http.Dispose();
}

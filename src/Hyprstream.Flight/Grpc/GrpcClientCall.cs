using System.Buffers.Binary;

namespace Hyprstream.Flight.Grpc;

/// <summary>
/// One client call of any shape. Requests go out as they are written; <see cref="ReadAsync"/> returns responses, and
/// null at the end of a successful call; a non-OK status is raised as GrpcException. Disposing an unfinished call
/// cancels it (RST_STREAM).
/// </summary>
public sealed class GrpcClientCall : IAsyncDisposable
{
    private readonly GrpcPushContent _content;
    private readonly int _maxReceive;
    private readonly CancellationTokenSource _cts;
    private readonly Task<HttpResponseMessage> _responseTask;
    private HttpResponseMessage? _response;
    private Stream? _stream;
    private bool _finished;

    internal GrpcClientCall(HttpClient http, HttpRequestMessage request, GrpcPushContent content, int maxReceive, GrpcCallOptions options)
    {
        _content = content;
        _maxReceive = maxReceive;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(options.CancellationToken);
        if (options.Timeout is { } t) _cts.CancelAfter(t + TimeSpan.FromSeconds(1)); // the server reports the deadline; this is a backstop
        _responseTask = http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, _cts.Token);
    }

    public GrpcStatusCode? Status { get; private set; }
    public string? StatusDetail { get; private set; }

    /// <summary>Response headers (after the first read).</summary>
    public HttpResponseMessage? Response => _response;

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> message)
    {
        var framed = new byte[GrpcFraming.PrefixSize + message.Length];
        GrpcFraming.WritePrefix(framed, message.Length);
        message.Span.CopyTo(framed.AsSpan(GrpcFraming.PrefixSize));
        await WriteFramedAsync(framed).ConfigureAwait(false);
    }

    /// <summary>Writes bytes that already hold whole length-prefixed messages.</summary>
    public async ValueTask WriteFramedAsync(ReadOnlyMemory<byte> framed)
    {
        try { await _content.WriteAsync(framed, _cts.Token).ConfigureAwait(false); }
        catch (System.Threading.Channels.ChannelClosedException e)
        {
            throw new InvalidOperationException(e.InnerException == null ? "the request stream is already complete" : "the call has ended; read its status", e);
        }
    }

    public ValueTask CompleteRequestAsync()
    {
        _content.Complete();
        return ValueTask.CompletedTask;
    }

    public async ValueTask<byte[]?> ReadAsync()
    {
        var m = await ReadCoreAsync(pooled: false).ConfigureAwait(false);
        return m?.Buffer;
    }

    /// <summary>
    /// The next message in a buffer rented from <see cref="System.Buffers.ArrayPool{T}.Shared"/> (return it when
    /// done); saves a large allocation per message on bulk streams. Null at the end of a successful call.
    /// </summary>
    public ValueTask<(byte[] Buffer, int Length)?> ReadPooledAsync() => ReadCoreAsync(pooled: true);

    private async ValueTask<(byte[] Buffer, int Length)?> ReadCoreAsync(bool pooled)
    {
        if (_finished) return null;
        try
        {
            if (_stream == null)
            {
                _response = await _responseTask.ConfigureAwait(false);
                if ((int)_response.StatusCode != 200)
                    throw Fail(GrpcStatusCode.Internal, $"HTTP status {(int)_response.StatusCode} from the server");
                _stream = await _response.Content.ReadAsStreamAsync(_cts.Token).ConfigureAwait(false);
            }
            var prefix = new byte[GrpcFraming.PrefixSize];
            int got = await _stream.ReadAtLeastAsync(prefix, prefix.Length, throwOnEndOfStream: false, _cts.Token).ConfigureAwait(false);
            if (got == 0)
            {
                Finish();
                return null;
            }
            if (got < prefix.Length) throw Fail(GrpcStatusCode.Internal, "the response ended inside a message prefix");
            if (prefix[0] != 0) throw Fail(GrpcStatusCode.Internal, "compressed response message");
            uint len = BinaryPrimitives.ReadUInt32BigEndian(prefix.AsSpan(1));
            if (len > (uint)_maxReceive) throw Fail(GrpcStatusCode.ResourceExhausted, $"response message of {len} bytes exceeds {_maxReceive}");
            var msg = pooled ? System.Buffers.ArrayPool<byte>.Shared.Rent((int)len) : new byte[len];
            await _stream.ReadExactlyAsync(msg.AsMemory(0, (int)len), _cts.Token).ConfigureAwait(false);
            return (msg, (int)len);
        }
        catch (OperationCanceledException) when (!_finished)
        {
            throw Fail(GrpcStatusCode.Cancelled, "the call was cancelled or its deadline passed on the client");
        }
        catch (HttpRequestException e) when (!_finished)
        {
            throw Fail(GrpcStatusCode.Unavailable, e.Message);
        }
        catch (IOException e) when (!_finished)
        {
            // A reset stream: the server may have sent a status (e.g. DEADLINE_EXCEEDED) before resetting.
            if (TryStatus(out var s, out var d) && s != GrpcStatusCode.OK) throw Fail(s, d);
            throw Fail(GrpcStatusCode.Unavailable, e.Message);
        }
    }

    private void Finish()
    {
        _finished = true;
        _content.Abort();
        if (!TryStatus(out var status, out var detail))
            throw Fail(GrpcStatusCode.Internal, "the server sent no grpc-status");
        Status = status;
        StatusDetail = detail;
        if (status != GrpcStatusCode.OK) throw new GrpcException(status, detail);
    }

    private bool TryStatus(out GrpcStatusCode status, out string detail)
    {
        status = GrpcStatusCode.Unknown;
        detail = "";
        if (_response == null) return false;
        // Trailers normally; the response headers in the Trailers-Only case.
        string? code = Header(_response.TrailingHeaders, "grpc-status") ?? Header(_response.Headers, "grpc-status");
        if (code == null || !int.TryParse(code, out var c)) return false;
        status = (GrpcStatusCode)c;
        detail = GrpcRouter.PercentDecode(Header(_response.TrailingHeaders, "grpc-message") ?? Header(_response.Headers, "grpc-message") ?? "");
        return true;
    }

    private static string? Header(System.Net.Http.Headers.HttpHeaders h, string name) =>
        h.TryGetValues(name, out var v) ? string.Join(",", v) : null;

    private GrpcException Fail(GrpcStatusCode status, string detail)
    {
        _finished = true;
        _content.Abort();
        Status = status;
        StatusDetail = detail;
        return new GrpcException(status, detail);
    }

    public async ValueTask DisposeAsync()
    {
        _content.Complete();
        if (!_finished) _cts.Cancel();
        try { await _responseTask.ConfigureAwait(false); } catch { /* cancelled or failed: nothing to clean up */ }
        _stream?.Dispose();
        _response?.Dispose();
        _cts.Dispose();
    }
}

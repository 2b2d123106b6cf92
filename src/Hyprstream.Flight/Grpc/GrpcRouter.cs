using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace Hyprstream.Flight.Grpc;

/// <summary>A handler for one method; it reads requests and writes responses through the call, or throws GrpcException.</summary>
public delegate Task GrpcMethodHandler(GrpcServerCall call);

/// <summary>
/// Turns HTTP/2 requests into gRPC calls: routes `/package.Service/Method` to a handler, applies the deadline, and
/// always ends the call with `grpc-status` (in the headers when nothing was sent yet, "Trailers-Only", else in the
/// trailers). Status messages are bounded and stripped of control characters (<see cref="StatusText"/>). Knows
/// nothing about Flight.
/// </summary>
public sealed class GrpcRouter
{
    private readonly Dictionary<string, GrpcMethodHandler> _methods = new(StringComparer.Ordinal);

    public GrpcRouter(int maxMessageSize = 64 << 20) => MaxMessageSize = maxMessageSize;

    public int MaxMessageSize { get; }

    /// <summary>Runs before every handler (e.g. authentication); throwing GrpcException ends the call.</summary>
    public Func<GrpcServerCall, ValueTask>? Interceptor { get; set; }

    /// <summary>Reports unexpected handler failures (those that become INTERNAL).</summary>
    public Action<string, Exception>? OnError { get; set; }

    public void Map(string service, string method, GrpcMethodHandler handler) => _methods[$"/{service}/{method}"] = handler;

    public async Task HandleAsync(HttpContext http)
    {
        var request = http.Request;
        var response = http.Response;
        if (!HttpMethods.IsPost(request.Method) || request.ContentType?.StartsWith("application/grpc", StringComparison.Ordinal) != true)
        {
            response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
            return;
        }
        // Streaming uploads must not be cut by Kestrel's default 30 MB body limit or minimum data rate.
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } max) max.MaxRequestBodySize = null;
        if (http.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } rate) rate.MinDataRate = null;

        response.StatusCode = 200;
        response.ContentType = "application/grpc";
        if (!_methods.TryGetValue(request.Path.Value ?? "", out var handler))
        {
            WriteStatus(http, GrpcStatusCode.Unimplemented, $"unknown method {StatusText.Quote(request.Path.Value)}");
            return;
        }

        DateTime? deadline = null;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        if (request.Headers.TryGetValue("grpc-timeout", out var t) && GrpcTimeout.TryParse(t.ToString(), out var timeout))
        {
            deadline = DateTime.UtcNow + timeout;
            cts.CancelAfter(timeout);
        }
        var path = request.Path.Value!;
        var call = new GrpcServerCall(http, path[(path.LastIndexOf('/') + 1)..], MaxMessageSize, deadline, cts.Token);
        try
        {
            if (Interceptor != null) await Interceptor(call).ConfigureAwait(false);
            await handler(call).ConfigureAwait(false);
            WriteStatus(http, GrpcStatusCode.OK, null);
        }
        catch (GrpcException e)
        {
            if (http.RequestAborted.IsCancellationRequested) return;
            WriteStatus(http, e.Status, e.Detail);
        }
        catch (Exception e) when (e is OperationCanceledException || http.RequestAborted.IsCancellationRequested || cts.IsCancellationRequested)
        {
            if (http.RequestAborted.IsCancellationRequested) return; // the client cancelled (RST_STREAM): nobody to tell
            if (deadline != null && cts.IsCancellationRequested)
            {
                // As grpc-dotnet: status in the trailers, complete the response, then reset the stream (CANCEL).
                WriteStatus(http, GrpcStatusCode.DeadlineExceeded, "Deadline Exceeded");
                await response.CompleteAsync().ConfigureAwait(false);
                http.Features.Get<IHttpResetFeature>()?.Reset(8);
                return;
            }
            WriteStatus(http, GrpcStatusCode.Cancelled, "call cancelled");
        }
        catch (Exception e)
        {
            OnError?.Invoke(path, e);
            WriteStatus(http, GrpcStatusCode.Internal, $"{e.GetType().Name}: {e.Message}");
        }
    }

    private static void WriteStatus(HttpContext http, GrpcStatusCode status, string? message)
    {
        var response = http.Response;
        var code = ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture);
        // The one place statuses are written: every message is bounded and printable, whatever a handler put in it.
        if (!string.IsNullOrEmpty(message)) message = StatusText.Bound(message);
        if (!response.HasStarted)
        {
            response.Headers["grpc-status"] = code;
            if (!string.IsNullOrEmpty(message)) response.Headers["grpc-message"] = PercentEncode(message);
            return;
        }
        response.AppendTrailer("grpc-status", code);
        if (!string.IsNullOrEmpty(message)) response.AppendTrailer("grpc-message", PercentEncode(message));
    }

    /// <summary>grpc-message is UTF-8, percent-encoded outside printable ASCII (and '%').</summary>
    public static string PercentEncode(string s)
    {
        var sb = new System.Text.StringBuilder(s.Length);
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(s))
        {
            if (b >= 0x20 && b <= 0x7E && b != (byte)'%') sb.Append((char)b);
            else sb.Append('%').Append(b.ToString("X2"));
        }
        return sb.ToString();
    }

    public static string PercentDecode(string s) => s.Contains('%') ? WebUtility.UrlDecode(s.Replace("+", "%2B")) : s;
}

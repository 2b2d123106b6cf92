using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hyprstream.Flight.Grpc;

/// <summary>
/// Kestrel serving a <see cref="GrpcRouter"/>: HTTP/2 only (prior-knowledge h2c) without a certificate, TLS (HTTP/2
/// via ALPN) with one. Kestrel would fall back to HTTP/1.1 for an unencrypted Http1AndHttp2 endpoint, which gRPC
/// clients cannot use.
/// </summary>
public sealed class GrpcServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private GrpcServer(WebApplication app, Uri address, string bound)
    {
        _app = app;
        Address = address;
        BoundAuthority = bound;
    }

    /// <summary>
    /// Where clients on this machine reach the server (the real port when 0 was asked for), e.g.
    /// http://127.0.0.1:50051; a wildcard bind (0.0.0.0, [::]) is given as 127.0.0.1 / localhost here.
    /// </summary>
    public Uri Address { get; }

    /// <summary>The address:port the socket is bound to, as bound: "0.0.0.0:50051" for all IPv4 interfaces.</summary>
    public string BoundAuthority { get; }

    public static async Task<GrpcServer> StartAsync(GrpcRouter router, IPEndPoint endpoint, X509Certificate2? certificate = null)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(o =>
        {
            o.AddServerHeader = false;
            // Large flow-control windows: DoGet streams tens of MB and the default 96 KB stream window stalls it.
            o.Limits.Http2.InitialConnectionWindowSize = 32 << 20;
            o.Limits.Http2.InitialStreamWindowSize = 16 << 20;
            o.Limits.Http2.MaxFrameSize = 1 << 20;
            o.Limits.Http2.MaxStreamsPerConnection = 1000;
            o.Limits.MaxRequestBodySize = null;
            o.Listen(endpoint, listen =>
            {
                if (certificate == null) listen.Protocols = HttpProtocols.Http2;
                else
                {
                    listen.Protocols = HttpProtocols.Http1AndHttp2;
                    listen.UseHttps(certificate);
                }
            });
        });
        var app = builder.Build();
        app.Run(router.HandleAsync);
        await app.StartAsync().ConfigureAwait(false);
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var uri = new Uri(bound.Replace("[::]", "localhost").Replace("0.0.0.0", "127.0.0.1"));
        return new GrpcServer(app, uri, new Uri(bound).Authority);
    }

    public Task WaitForShutdownAsync(CancellationToken ct) => _app.WaitForShutdownAsync(ct);

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try { await _app.StopAsync(cts.Token).ConfigureAwait(false); } catch (OperationCanceledException) { }
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}

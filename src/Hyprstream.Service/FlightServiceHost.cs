using System.Net;
using System.Security.Cryptography.X509Certificates;
using Grpc.AspNetCore.Server.Model;
using Grpc.Health.V1;
using Grpc.HealthCheck;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Hyprstream.Flight.Rpc;

namespace Hyprstream.Service;

/// <summary>
/// The whole service wired together: store, Flight handlers, auth, and grpc-dotnet on Kestrel — HTTP/2 only
/// (prior-knowledge h2c) without a certificate, TLS (HTTP/2 via ALPN) with one — plus the standard gRPC health
/// service (grpc.health.v1: SERVING for "" and the Flight service once the store is open).
/// </summary>
public sealed class FlightServiceHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HealthServiceImpl _health;

    private FlightServiceHost(WebApplication app, HealthServiceImpl health, Uri address, string bound, ServiceStore store, TokenAuth auth, IndexService index)
    {
        _app = app;
        _health = health;
        Address = address;
        BoundAuthority = bound;
        Store = store;
        Auth = auth;
        Index = index;
    }

    /// <summary>The adapter-routing index of the data directory (actions index-upsert, index-remove, search).</summary>
    public IndexService Index { get; }

    /// <summary>Where clients on this machine connect (a wildcard bind is given as loopback), e.g. http://127.0.0.1:50051.</summary>
    public Uri Address { get; }

    /// <summary>The address:port actually bound, e.g. "0.0.0.0:50051".</summary>
    public string BoundAuthority { get; }

    /// <summary>True when bound to every interface (0.0.0.0 or [::]).</summary>
    public bool AllInterfaces => BoundAuthority.StartsWith("0.0.0.0:", StringComparison.Ordinal) || BoundAuthority.StartsWith("[::]:", StringComparison.Ordinal);
    public ServiceStore Store { get; }
    public TokenAuth Auth { get; }

    public static async Task<FlightServiceHost> StartAsync(FlightServiceOptions options)
    {
        var auth = new TokenAuth(options.Tokens, options.Grants);
        if (!IPAddress.IsLoopback(options.Listen.Address) && !auth.Enabled)
            throw new ArgumentException($"listening on {options.Listen} (not loopback) needs at least one token: set HYPRSTREAM_TOKENS, pass --token or --tokens-file");
        var store = new ServiceStore(options.DataDirectory, options.Store, options.Log);
        IndexService? index = null;
        WebApplication? app = null;
        try
        {
            var (imported, failed) = store.Rescan();
            options.Log?.Invoke($"data directory {store.DataDirectory}: {store.Store.Names.Count} adapters in the store ({imported.Count} .vdb files imported, {failed.Count} not served), fsync {store.Store.Fsync}");
            index = new IndexService(store.DataDirectory, store.Store, options.Log);
            var flights = new AdapterFlightService(store, new ServiceStats(), options.BatchRows, index);
            var endpoints = new FlightEndpoints(flights, auth, (method, e) => options.Log?.Invoke($"{method}: {e}"));
            X509Certificate2? cert = options.CertificatePath == null ? null
                : X509CertificateLoader.LoadPkcs12FromFile(options.CertificatePath, options.CertificatePassword);
            var health = new HealthServiceImpl();

            var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrelCore().ConfigureKestrel(o =>
            {
                o.AddServerHeader = false;
                // Large flow-control windows: a DoGet streams tens of MB and the default 96 KB stream window stalls it on real networks.
                o.Limits.Http2.InitialConnectionWindowSize = 32 << 20;
                o.Limits.Http2.InitialStreamWindowSize = 16 << 20;
                o.Limits.Http2.MaxFrameSize = 1 << 20;
                o.Limits.Http2.MaxStreamsPerConnection = 1000;
                o.Listen(options.Listen, listen =>
                {
                    // Kestrel would fall back to HTTP/1.1 on an unencrypted Http1AndHttp2 endpoint, which gRPC clients cannot use.
                    if (cert == null) listen.Protocols = HttpProtocols.Http2;
                    else
                    {
                        listen.Protocols = HttpProtocols.Http1AndHttp2;
                        listen.UseHttps(cert);
                    }
                });
            });
            builder.Services.AddRouting();
            builder.Services.AddGrpc(o =>
            {
                o.MaxReceiveMessageSize = options.MaxMessageSize;
                o.MaxSendMessageSize = null;
            });
            builder.Services.AddSingleton(endpoints);
            builder.Services.AddSingleton<IServiceMethodProvider<FlightEndpoints>>(new FlightEndpoints.Provider(endpoints));
            builder.Services.AddSingleton(health);
            app = builder.Build();
            app.UseRouting();
            app.MapGrpcService<FlightEndpoints>();
            app.MapGrpcService<HealthServiceImpl>();
            await app.StartAsync().ConfigureAwait(false);
            var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            var uri = new Uri(bound.Replace("[::]", "localhost").Replace("0.0.0.0", "127.0.0.1"));
            health.SetStatus("", HealthCheckResponse.Types.ServingStatus.Serving);
            health.SetStatus(FlightMethods.Service, HealthCheckResponse.Types.ServingStatus.Serving);
            return new FlightServiceHost(app, health, uri, new Uri(bound).Authority, store, auth, index);
        }
        catch
        {
            if (app != null) await app.DisposeAsync();
            index?.Dispose();
            store.Dispose();
            throw;
        }
    }

    public Task WaitForShutdownAsync(CancellationToken ct) => _app.WaitForShutdownAsync(ct);

    public async ValueTask DisposeAsync()
    {
        _health.SetStatus("", HealthCheckResponse.Types.ServingStatus.NotServing);
        _health.SetStatus(FlightMethods.Service, HealthCheckResponse.Types.ServingStatus.NotServing);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try { await _app.StopAsync(cts.Token).ConfigureAwait(false); } catch (OperationCanceledException) { }
        await _app.DisposeAsync().ConfigureAwait(false);
        Index.Dispose();
        Store.Dispose();
    }
}

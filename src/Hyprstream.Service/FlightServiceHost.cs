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
/// service (grpc.health.v1 for "" and the Flight service: SERVING while <see cref="Service.Readiness"/> says ready), and
/// with <see cref="FlightServiceOptions.Metrics"/> the metrics listener (<see cref="MetricsEndpoint"/>).
/// </summary>
public sealed class FlightServiceHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HealthServiceImpl _health;

    private readonly Readiness _readiness;
    private readonly FlightMetrics? _flightMetrics;
    private readonly ILoggerFactory? _ownedLoggers;
    private readonly Timer _healthTimer;

    private FlightServiceHost(WebApplication app, HealthServiceImpl health, Uri address, string bound, ServiceStore store, TokenAuth auth, IndexService index,
        Readiness readiness, MetricsEndpoint? metrics, FlightMetrics? flightMetrics, ILoggerFactory? ownedLoggers)
    {
        _app = app;
        _health = health;
        Address = address;
        BoundAuthority = bound;
        Store = store;
        Auth = auth;
        Index = index;
        _readiness = readiness;
        Metrics = metrics;
        _flightMetrics = flightMetrics;
        _ownedLoggers = ownedLoggers;
        // grpc.health.v1 follows readiness (checkpoints failing in a row make it NOT_SERVING), checked every second.
        ReportHealth();
        _healthTimer = new Timer(_ => ReportHealth(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    /// <summary>The adapter-routing index of the data directory (actions index-upsert, index-remove, search).</summary>
    public IndexService Index { get; }

    /// <summary>The /metrics, /healthz, /readyz listener (`--metrics`); null when metrics are off.</summary>
    public MetricsEndpoint? Metrics { get; }

    /// <summary>Ready to serve (see <see cref="Service.Readiness"/>), and why (not).</summary>
    public (bool Ready, string Reason) Readiness => _readiness.Check();

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
        ILoggerFactory? owned = options.Loggers == null
            ? LoggerFactory.Create(b => { if (options.Log != null) b.AddProvider(new ActionLoggerProvider(options.Log)); })
            : null;
        var loggers = options.Loggers ?? owned!;
        var log = loggers.CreateLogger("Hyprstream.Service");
        var readiness = new Readiness();
        // The metrics port comes up first: during recovery /healthz answers and /readyz says why it is not ready yet.
        MetricsEndpoint? metrics = null;
        FlightMetrics? flightMetrics = null;
        ServiceStore? store = null;
        IndexService? index = null;
        WebApplication? app = null;
        try
        {
            if (options.Metrics != null)
            {
                metrics = await MetricsEndpoint.StartAsync(options.Metrics, readiness).ConfigureAwait(false);
                log.LogInformation("metrics at {Address}metrics (health: /healthz, readiness: /readyz)", metrics.Address);
            }
            var storeOptions = options.Store with
            {
                Metrics = options.Metrics != null,
                Checkpointed = options.Store.Checkpointed ?? CheckpointLog.To(loggers.CreateLogger("Hyprstream.Store")),
            };
            store = new ServiceStore(options.DataDirectory, storeOptions, msg => log.LogInformation("{Message}", msg));
            log.LogInformation("recovery: {Summary}", store.Store.Recovery);
            var (imported, failed) = store.Rescan();
            log.LogInformation("data directory {Directory}: {Adapters} adapters in the store ({Imported} .vdb files imported, {Failed} not served), fsync {Fsync}",
                store.DataDirectory, store.Store.Names.Count, imported.Count, failed.Count, store.Store.Fsync);
            index = new IndexService(store.DataDirectory);
            var indexed = index;
            flightMetrics = options.Metrics == null ? null : new FlightMetrics(() => indexed.Index?.Count ?? 0);
            var flights = new AdapterFlightService(store, new ServiceStats(), options.BatchRows, index, flightMetrics);
            var endpoints = new FlightEndpoints(flights, auth, loggers.CreateLogger("Hyprstream.Flight"), flightMetrics);
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
            readiness.Serving(store.Store);
            log.LogInformation("serving Arrow Flight at {Address}", bound);
            return new FlightServiceHost(app, health, uri, new Uri(bound).Authority, store, auth, index, readiness, metrics, flightMetrics, owned);
        }
        catch
        {
            if (app != null) await app.DisposeAsync();
            index?.Dispose();
            store?.Dispose();
            flightMetrics?.Dispose();
            if (metrics != null) await metrics.DisposeAsync();
            owned?.Dispose();
            throw;
        }
    }

    private void ReportHealth()
    {
        var status = _readiness.Check().Ready ? HealthCheckResponse.Types.ServingStatus.Serving : HealthCheckResponse.Types.ServingStatus.NotServing;
        _health.SetStatus("", status);
        _health.SetStatus(FlightMethods.Service, status);
    }

    public Task WaitForShutdownAsync(CancellationToken ct) => _app.WaitForShutdownAsync(ct);

    public async ValueTask DisposeAsync()
    {
        _readiness.Stopping();
        await _healthTimer.DisposeAsync().ConfigureAwait(false);
        ReportHealth();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try { await _app.StopAsync(cts.Token).ConfigureAwait(false); } catch (OperationCanceledException) { }
        await _app.DisposeAsync().ConfigureAwait(false);
        Index.Dispose();
        Store.Dispose();
        _flightMetrics?.Dispose();
        if (Metrics != null) await Metrics.DisposeAsync().ConfigureAwait(false);
        _ownedLoggers?.Dispose();
    }
}

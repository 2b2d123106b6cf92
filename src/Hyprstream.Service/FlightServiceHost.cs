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

namespace Hyprstream.Service;

/// <summary>
/// The whole service wired together for `hyprstream serve`: <see cref="HyprstreamFlightServiceCollectionExtensions.AddHyprstreamFlight"/>
/// and <see cref="HyprstreamFlightEndpointExtensions.MapHyprstreamFlight"/> (store, Flight handlers, auth, the
/// standard gRPC health service following <see cref="Service.Readiness"/>, and with
/// <see cref="FlightServiceOptions.Metrics"/> the metrics listener, <see cref="MetricsEndpoint"/>) on grpc-dotnet's
/// own Kestrel — HTTP/2 only (prior-knowledge h2c) without a certificate, TLS (HTTP/2 via ALPN) with one — refusing a
/// non-loopback address without tokens.
/// </summary>
public sealed class FlightServiceHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly FlightServiceLifetime _lifetime;

    private FlightServiceHost(WebApplication app, Uri address, string bound, ServiceStore store, TokenAuth auth, IndexService index, FlightServiceLifetime lifetime)
    {
        _app = app;
        Address = address;
        BoundAuthority = bound;
        Store = store;
        Auth = auth;
        Index = index;
        _lifetime = lifetime;
    }

    /// <summary>The adapter-routing index of the data directory (actions index-upsert, index-remove, search).</summary>
    public IndexService Index { get; }

    /// <summary>The /metrics, /healthz, /readyz listener (`--metrics`); null when metrics are off.</summary>
    public MetricsEndpoint? Metrics => _lifetime.Metrics;

    /// <summary>Ready to serve (see <see cref="Service.Readiness"/>), and why (not).</summary>
    public (bool Ready, string Reason) Readiness => _lifetime.Readiness.Check();

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
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Logging.ClearProviders();
        // The same pair a host app uses (AddHyprstreamFlight / MapHyprstreamFlight): one code path.
        builder.Services.AddRouting();
        builder.Services.AddHyprstreamFlight(options);
        X509Certificate2? cert = options.CertificatePath == null ? null
            : X509CertificateLoader.LoadPkcs12FromFile(options.CertificatePath, options.CertificatePassword);
        builder.WebHost.UseKestrelCore().ConfigureKestrel(o =>
        {
            o.ConfigureHyprstreamFlightLimits();
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
        var app = builder.Build();
        try
        {
            var auth = app.Services.GetRequiredService<TokenAuth>();
            if (!IPAddress.IsLoopback(options.Listen.Address) && !auth.Enabled)
                throw new ArgumentException($"listening on {options.Listen} (not loopback) needs at least one token: set HYPRSTREAM_TOKENS, pass --token or --tokens-file");
            app.UseRouting();
            app.MapHyprstreamFlight();
            await app.StartAsync().ConfigureAwait(false);
            var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            var uri = new Uri(bound.Replace("[::]", "localhost").Replace("0.0.0.0", "127.0.0.1"));
            app.Services.GetRequiredService<FlightLoggers>().Create("Hyprstream.Service").LogInformation("serving Arrow Flight at {Address}", bound);
            return new FlightServiceHost(app, uri, new Uri(bound).Authority, app.Services.GetRequiredService<ServiceStore>(), auth,
                app.Services.GetRequiredService<IndexService>(), app.Services.GetRequiredService<FlightServiceLifetime>());
        }
        catch
        {
            // Disposing the app disposes what it opened (the store and the index are its singletons).
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public Task WaitForShutdownAsync(CancellationToken ct) => _app.WaitForShutdownAsync(ct);

    /// <summary>Stops the server (the health service says NOT_SERVING first), then disposes the store and the index.</summary>
    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try { await _app.StopAsync(cts.Token).ConfigureAwait(false); } catch (OperationCanceledException) { }
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}

using System.Net;
using Hyprstream.Runtime.Apply;
using Hyprstream.Runtime.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Hyprstream.Service;

/// <summary>
/// `serve --metrics ADDRESS:PORT`: a plain HTTP/1.1 listener apart from the Flight port, with
/// <c>GET /metrics</c> (Prometheus text exposition by OpenTelemetry's Prometheus exporter, of the meters
/// <see cref="Meters"/> names), <c>GET /healthz</c> (200 while the process answers) and <c>GET /readyz</c> (200 when
/// <see cref="Readiness"/> says ready, else 503 with the reason). Started before the store opens, so a load balancer
/// sees "not ready" during recovery rather than a refused connection.
/// Why OpenTelemetry's exporter and not prometheus-net's MeterAdapter: docs/observability.md ("Choosing the exporter").
/// </summary>
public sealed class MetricsEndpoint : IAsyncDisposable
{
    /// <summary>Every meter exported: the store, the Flight service, the apply kernels and .NET's own (GC, threads, memory, CPU).</summary>
    public static readonly string[] Meters = [StoreMetrics.MeterName, FlightMetrics.MeterName, ApplyMetrics.MeterName, "System.Runtime"];

    private static readonly (string From, string To)[] RuntimeRenames =
        [("dotnet.assembly.count", "dotnet.assemblies.loaded"), ("dotnet.process.cpu.count", "dotnet.process.cpus"), ("dotnet.timer.count", "dotnet.timers")];

    private readonly WebApplication _app;

    private MetricsEndpoint(WebApplication app, Uri address) => (_app, Address) = (app, address);

    /// <summary>Where to scrape, e.g. http://127.0.0.1:9464 (a wildcard bind is given as loopback).</summary>
    public Uri Address { get; }

    public static async Task<MetricsEndpoint> StartAsync(IPEndPoint listen, Readiness readiness)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(o =>
        {
            o.AddServerHeader = false;
            o.Listen(listen, l => l.Protocols = HttpProtocols.Http1);
        });
        builder.Services.AddRouting();
        builder.Services.AddOpenTelemetry().ConfigureResource(r => r.AddService("hyprstream")).WithMetrics(m =>
        {
            m.AddMeter(Meters).AddPrometheusExporter(o =>
            {
                // Every scrape reads the instruments afresh (the exporter would otherwise answer from a 300 ms cache).
                o.ScrapeResponseCacheDurationMilliseconds = 0;
            });
            // .NET's gauges named *.count read as summaries to Prometheus's linter (promtool): renamed.
            foreach (var (from, to) in RuntimeRenames) m.AddView(from, to);
        });
        var app = builder.Build();
        app.UseRouting();
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", () =>
        {
            var (ready, reason) = readiness.Check();
            return Results.Text((ready ? "ready: " : "not ready: ") + reason + "\n", statusCode: ready ? 200 : 503);
        });
        try { await app.StartAsync().ConfigureAwait(false); }
        catch (IOException e)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new IOException($"--metrics {listen}: cannot listen there ({e.Message})", e);
        }
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new MetricsEndpoint(app, new Uri(bound.Replace("[::]", "localhost").Replace("0.0.0.0", "127.0.0.1")));
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try { await _app.StopAsync(cts.Token).ConfigureAwait(false); } catch (OperationCanceledException) { }
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}

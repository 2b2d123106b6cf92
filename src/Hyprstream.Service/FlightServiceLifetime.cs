using System.Net;
using Grpc.Health.V1;
using Grpc.HealthCheck;
using Hyprstream.Flight.Rpc;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hyprstream.Service;

/// <summary>
/// The service's start and stop inside its host. Start: the metrics listener first (with `--metrics`: during
/// recovery /healthz answers and /readyz says why it is not ready yet), then the store opens (so a data directory
/// that cannot open fails the start, not the first call), then <see cref="Readiness"/> says serving. The gRPC
/// health status (for "" and the Flight service) follows readiness, checked every second; from the moment the host
/// stops it is NOT_SERVING. Disposal of the store and index is the container's (they are its singletons); the
/// metrics listener is disposed with this.
/// </summary>
internal sealed class FlightServiceLifetime(IServiceProvider services, HealthServiceImpl health, Readiness readiness, IPEndPoint? metricsAt)
    : IHostedService, IAsyncDisposable
{
    private Timer? _healthTimer;

    /// <summary>The /metrics, /healthz, /readyz listener once started; null when metrics are off.</summary>
    public MetricsEndpoint? Metrics { get; private set; }

    public Readiness Readiness => readiness;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var log = services.GetRequiredService<FlightLoggers>().Create("Hyprstream.Service");
        if (metricsAt != null)
        {
            Metrics = await MetricsEndpoint.StartAsync(metricsAt, readiness).ConfigureAwait(false);
            log.LogInformation("metrics at {Address}metrics (health: /healthz, readiness: /readyz)", Metrics.Address);
        }
        services.GetRequiredService<FlightEndpoints>();   // store, index and handlers, in that order
        var store = services.GetRequiredService<ServiceStore>();
        if (store.Leader is { } leader) readiness.Replicating(() => leader.Lost);
        readiness.Serving(store.Store);
        ReportHealth();
        _healthTimer = new Timer(_ => ReportHealth(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        readiness.Stopping();
        if (_healthTimer != null) await _healthTimer.DisposeAsync().ConfigureAwait(false);
        ReportHealth();
    }

    private void ReportHealth()
    {
        var status = readiness.Check().Ready ? HealthCheckResponse.Types.ServingStatus.Serving : HealthCheckResponse.Types.ServingStatus.NotServing;
        health.SetStatus("", status);
        health.SetStatus(FlightMethods.Service, status);
    }

    public async ValueTask DisposeAsync()
    {
        if (_healthTimer != null) await _healthTimer.DisposeAsync().ConfigureAwait(false);
        if (Metrics != null) await Metrics.DisposeAsync().ConfigureAwait(false);
    }
}

using Grpc.Health.V1;
using Grpc.HealthCheck;
using Hyprstream.Flight.Rpc;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Hyprstream.Service;

/// <summary>
/// Opens the store when the host starts (so a data directory that cannot open fails the start, not the first call)
/// and keeps the gRPC health status: SERVING for "" and the Flight service once the store is open, NOT_SERVING
/// from the moment the host stops. Disposal of the store and index is the container's (they are its singletons).
/// </summary>
internal sealed class FlightServiceLifetime(IServiceProvider services, HealthServiceImpl health) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        services.GetRequiredService<FlightEndpoints>();   // store, index and handlers, in that order
        health.SetStatus("", HealthCheckResponse.Types.ServingStatus.Serving);
        health.SetStatus(FlightMethods.Service, HealthCheckResponse.Types.ServingStatus.Serving);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        health.SetStatus("", HealthCheckResponse.Types.ServingStatus.NotServing);
        health.SetStatus(FlightMethods.Service, HealthCheckResponse.Types.ServingStatus.NotServing);
        return Task.CompletedTask;
    }
}

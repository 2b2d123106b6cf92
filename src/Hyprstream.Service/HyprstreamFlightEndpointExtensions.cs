using Grpc.HealthCheck;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Hyprstream.Service;

/// <summary>
/// The second half of hosting the Flight service (after <see cref="HyprstreamFlightServiceCollectionExtensions.AddHyprstreamFlight"/>):
/// maps arrow.flight.protocol.FlightService and, unless the host maps its own, grpc.health.v1.Health.
/// </summary>
public static class HyprstreamFlightEndpointExtensions
{
    /// <summary>Maps the Flight service (and the gRPC health service when <paramref name="mapHealthService"/>).</summary>
    public static IEndpointRouteBuilder MapHyprstreamFlight(this IEndpointRouteBuilder endpoints, bool mapHealthService = true)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        // Asks whether it is registered without creating it: that would open the store before the host starts.
        if (endpoints.ServiceProvider.GetService<IServiceProviderIsService>()?.IsService(typeof(FlightEndpoints)) != true)
            throw new InvalidOperationException("MapHyprstreamFlight needs services.AddHyprstreamFlight(options) first");
        endpoints.MapGrpcService<FlightEndpoints>();
        if (mapHealthService) endpoints.MapGrpcService<HealthServiceImpl>();
        return endpoints;
    }
}

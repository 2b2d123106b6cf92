using Grpc.AspNetCore.Server.Model;
using Grpc.HealthCheck;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Hyprstream.Service;

/// <summary>
/// The first half of hosting the Flight service in any ASP.NET Core app: <c>builder.Services.AddHyprstreamFlight(options)</c>,
/// then <c>app.MapHyprstreamFlight()</c> (<see cref="HyprstreamFlightEndpointExtensions"/>). `hyprstream serve`
/// (<see cref="FlightServiceHost"/>) is built from the same pair. The host app owns Kestrel: gRPC needs HTTP/2 (on a
/// plain endpoint set <c>Protocols = HttpProtocols.Http2</c>), and <see cref="HyprstreamKestrelExtensions"/> gives
/// the large flow-control windows bulk DoGets want. <see cref="FlightServiceOptions.Listen"/> and the certificate
/// options are read only by <see cref="FlightServiceHost"/>; the host app decides where it listens and must not
/// expose a service without tokens beyond loopback.
/// </summary>
public static class HyprstreamFlightServiceCollectionExtensions
{
    /// <summary>
    /// Registers the store over <see cref="FlightServiceOptions.DataDirectory"/>, the routing index, the bearer-token
    /// auth, the Flight handlers and the standard gRPC health service. The store opens (and imports the data
    /// directory's .vdb files) when the host starts; a store that cannot open fails the start. Bad tokens or grants
    /// throw <see cref="ArgumentException"/> here. The store, the index and the handlers are singletons the host's
    /// container disposes when it stops; <see cref="ServiceStore"/>, <see cref="IndexService"/> and
    /// <see cref="TokenAuth"/> can be resolved by the host's own code.
    /// </summary>
    public static IServiceCollection AddHyprstreamFlight(this IServiceCollection services, FlightServiceOptions options)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        var auth = new TokenAuth(options.Tokens, options.Grants);   // refuses bad tokens now, not at the first call
        services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = options.MaxMessageSize;
            o.MaxSendMessageSize = null;
        });
        services.AddSingleton(auth);
        services.AddSingleton(_ =>
        {
            var store = new ServiceStore(options.DataDirectory, options.Store, options.Log);
            try
            {
                var (imported, failed) = store.Rescan();
                options.Log?.Invoke($"data directory {store.DataDirectory}: {store.Store.Names.Count} adapters in the store ({imported.Count} .vdb files imported, {failed.Count} not served), fsync {store.Store.Fsync}");
                return store;
            }
            catch
            {
                store.Dispose();
                throw;
            }
        });
        services.AddSingleton(sp => new IndexService(sp.GetRequiredService<ServiceStore>().DataDirectory));
        services.AddSingleton(sp => new AdapterFlightService(sp.GetRequiredService<ServiceStore>(), new ServiceStats(), options.BatchRows, sp.GetRequiredService<IndexService>()));
        services.AddSingleton(sp => new FlightEndpoints(sp.GetRequiredService<AdapterFlightService>(), auth, (method, e) => options.Log?.Invoke($"{method}: {e}")));
        services.AddSingleton<IServiceMethodProvider<FlightEndpoints>, FlightEndpoints.Provider>();
        services.TryAddSingleton<HealthServiceImpl>();
        services.AddHostedService<FlightServiceLifetime>();
        return services;
    }
}

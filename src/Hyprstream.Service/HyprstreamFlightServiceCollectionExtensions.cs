using Grpc.AspNetCore.Server.Model;
using Grpc.HealthCheck;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

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
    /// auth, the Flight handlers, the standard gRPC health service (following <see cref="Readiness"/>) and, with
    /// <see cref="FlightServiceOptions.Metrics"/>, the instruments and their own /metrics, /healthz, /readyz listener.
    /// The service logs through <see cref="FlightServiceOptions.Loggers"/>, else <see cref="FlightServiceOptions.Log"/>,
    /// else the host's logging. The store opens (and imports the data
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
        services.AddSingleton(sp => FlightLoggers.For(options, sp));
        services.AddSingleton<Readiness>();
        services.AddSingleton(sp =>
        {
            var loggers = sp.GetRequiredService<FlightLoggers>();
            var log = loggers.Create("Hyprstream.Service");
            var storeOptions = options.Store with
            {
                Metrics = options.Store.Metrics || options.Metrics != null,
                Checkpointed = options.Store.Checkpointed ?? CheckpointLog.To(loggers.Create("Hyprstream.Store")),
            };
            if (options.Follow is { } follow) return ServiceStore.Follow(options.DataDirectory, follow, msg => log.LogInformation("{Message}", msg));
            // With --object-store the lease comes first (and a restore from the bucket into an empty data directory).
            var leader = ServiceReplication.StartLeader(options, log);
            ServiceStore store;
            try { store = new ServiceStore(options.DataDirectory, storeOptions, msg => log.LogInformation("{Message}", msg)); }
            catch
            {
                leader?.DisposeAsync().AsTask().GetAwaiter().GetResult();
                throw;
            }
            try
            {
                if (leader != null) store.Lead(leader);
                log.LogInformation("recovery: {Summary}", store.Store.Recovery);
                var (imported, failed) = store.Rescan();
                log.LogInformation("data directory {Directory}: {Adapters} adapters in the store ({Imported} .vdb files imported, {Failed} not served), fsync {Fsync}",
                    store.DataDirectory, store.Store.Names.Count, imported.Count, failed.Count, store.Store.Fsync);
                return store;
            }
            catch
            {
                store.Dispose();
                throw;
            }
        });
        services.AddSingleton(sp =>
        {
            var store = sp.GetRequiredService<ServiceStore>();
            var log = sp.GetRequiredService<FlightLoggers>().Create("Hyprstream.Index");
            return new IndexService(store.DataDirectory, store.Store, msg => log.LogInformation("{Message}", msg));
        });
        // Instruments exist only with metrics on (`--metrics`): otherwise nothing is counted or timed.
        if (options.Metrics != null)
            services.AddSingleton(sp => new FlightMetrics(() => sp.GetRequiredService<IndexService>().Index?.Count ?? 0));
        // With --advertise: this node's registration in the bucket, and the nodes GetFlightInfo lists as locations.
        if (ServiceNodes.Advertised(options) != null)
            services.AddSingleton(sp => ServiceNodes.Start(options, sp.GetRequiredService<ServiceStore>(), sp.GetRequiredService<FlightLoggers>().Create("Hyprstream.Nodes")));
        services.AddSingleton(_ => new RemoteSources(options.AllowedSources, options.ObjectStoreSettings ?? Hyprstream.Replication.ObjectStoreSettings.FromEnvironment()));
        services.AddSingleton(sp => new AdapterFlightService(sp.GetRequiredService<ServiceStore>(), new ServiceStats(), options.BatchRows,
            sp.GetRequiredService<IndexService>(), sp.GetService<FlightMetrics>(), sp.GetService<ServiceNodes>(), sp.GetService<RemoteSources>()));
        services.AddSingleton(sp => new FlightEndpoints(sp.GetRequiredService<AdapterFlightService>(), auth,
            sp.GetRequiredService<FlightLoggers>().Create("Hyprstream.Flight"), sp.GetService<FlightMetrics>()));
        services.AddSingleton<IServiceMethodProvider<FlightEndpoints>, FlightEndpoints.Provider>();
        services.TryAddSingleton<HealthServiceImpl>();
        services.AddSingleton(sp => new FlightServiceLifetime(sp, sp.GetRequiredService<HealthServiceImpl>(), sp.GetRequiredService<Readiness>(), options.Metrics));
        services.AddHostedService(sp => sp.GetRequiredService<FlightServiceLifetime>());
        return services;
    }
}

using System.Net;
using System.Security.Cryptography.X509Certificates;
using Hyprstream.Flight.Grpc;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Service;

/// <summary>The whole service wired together: store, Flight handlers, auth, gRPC router, Kestrel.</summary>
public sealed class FlightServiceHost : IAsyncDisposable
{
    private readonly GrpcServer _server;

    private FlightServiceHost(GrpcServer server, ServiceStore store, TokenAuth auth, IndexService index)
    {
        _server = server;
        Store = store;
        Auth = auth;
        Index = index;
    }

    /// <summary>The adapter-routing index of the data directory (actions index-upsert, index-remove, search).</summary>
    public IndexService Index { get; }

    /// <summary>Where clients on this machine connect (a wildcard bind is given as loopback).</summary>
    public Uri Address => _server.Address;

    /// <summary>The address:port actually bound, e.g. "0.0.0.0:50051".</summary>
    public string BoundAuthority => _server.BoundAuthority;

    /// <summary>True when bound to every interface (0.0.0.0 or [::]).</summary>
    public bool AllInterfaces => BoundAuthority.StartsWith("0.0.0.0:", StringComparison.Ordinal) || BoundAuthority.StartsWith("[::]:", StringComparison.Ordinal);
    public ServiceStore Store { get; }
    public TokenAuth Auth { get; }

    public static async Task<FlightServiceHost> StartAsync(FlightServiceOptions options)
    {
        var auth = new TokenAuth(options.Tokens);
        if (!IPAddress.IsLoopback(options.Listen.Address) && !auth.Enabled)
            throw new ArgumentException($"listening on {options.Listen} (not loopback) needs at least one token: set HYPRSTREAM_TOKENS or pass --token");
        var store = new ServiceStore(options.DataDirectory, options.Store, options.Log);
        IndexService? index = null;
        try
        {
            var (imported, failed) = store.Rescan();
            options.Log?.Invoke($"data directory {store.DataDirectory}: {store.Store.Names.Count} adapters in the store ({imported.Count} .vdb files imported, {failed.Count} not served), fsync {store.Store.Fsync}");
            var router = new GrpcRouter(options.MaxMessageSize) { OnError = (path, e) => options.Log?.Invoke($"{path}: {e}") };
            index = new IndexService(store.DataDirectory);
            new AdapterFlightService(store, new ServiceStats(), options.BatchRows, index).MapTo(router, auth);
            X509Certificate2? cert = options.CertificatePath == null ? null
                : X509CertificateLoader.LoadPkcs12FromFile(options.CertificatePath, options.CertificatePassword);
            var server = await GrpcServer.StartAsync(router, options.Listen, cert);
            return new FlightServiceHost(server, store, auth, index);
        }
        catch
        {
            index?.Dispose();
            store.Dispose();
            throw;
        }
    }

    public Task WaitForShutdownAsync(CancellationToken ct) => _server.WaitForShutdownAsync(ct);

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        Index.Dispose();
        Store.Dispose();
    }
}

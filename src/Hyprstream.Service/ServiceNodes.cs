using Hyprstream.Replication;
using Microsoft.Extensions.Logging;

namespace Hyprstream.Service;

/// <summary>
/// `--advertise grpc://HOST:PORT` on a leader or a follower: the node's registration in the bucket
/// (<see cref="NodeRegistry"/>), renewed every two seconds with how far it has applied, and the other nodes', from
/// which GetFlightInfo lists where an adapter can be read: every live node that has applied the adapter's last
/// change (as this node knows it). Registration failures are logged and retried; the last list stays meanwhile.
/// </summary>
public sealed class ServiceNodes : IAsyncDisposable
{
    private readonly NodeRegistry _registry;
    private readonly ObjectStore _bucket;
    private readonly ServiceStore _store;

    private ServiceNodes(NodeRegistry registry, ObjectStore bucket, ServiceStore store)
    {
        _registry = registry;
        _bucket = bucket;
        _store = store;
    }

    /// <summary>The advertised endpoint, its bucket and settings; null when the node advertises none.</summary>
    internal static (string Endpoint, S3Uri Root, ObjectStoreSettings Settings)? Advertised(FlightServiceOptions o) =>
        o.Follow is { Endpoint: { } fe } f ? (fe, f.Root, f.Store)
        : o.Leader is { Endpoint: { } le } l ? (le, l.Root, l.Store)
        : null;

    internal static ServiceNodes Start(FlightServiceOptions options, ServiceStore store, ILogger log)
    {
        var (endpoint, root, settings) = Advertised(options) ?? throw new InvalidOperationException("no --advertise endpoint");
        var bucket = new ObjectStore(root, settings);
        try
        {
            var registry = store.Follower is { } f
                ? new NodeRegistry(bucket, options.Follow!.Id, "follower", endpoint, () => f.Store.AppliedSequence, m => log.LogWarning("{Message}", m))
                : new NodeRegistry(bucket, store.Leader?.Id ?? options.Leader!.Id, "leader", endpoint, () => store.Store.LastSequence, m => log.LogWarning("{Message}", m));
            registry.StartAsync().GetAwaiter().GetResult();
            log.LogInformation("registered as {Id} ({Endpoint}) in {Bucket}", registry.Id, endpoint, root);
            return new ServiceNodes(registry, bucket, store);
        }
        catch
        {
            bucket.Dispose();
            throw;
        }
    }

    /// <summary>Endpoints of the live nodes serving the stored adapter <paramref name="name"/> at its current state.</summary>
    public IReadOnlyList<string> Serving(string name)
    {
        ulong seq;
        try { seq = _store.Store.SequenceOf(name); }
        catch (KeyNotFoundException) { return []; }
        return _registry.Serving(seq);
    }

    /// <summary>The live nodes as of the last round.</summary>
    public IReadOnlyList<NodeRegistration> Nodes => _registry.Nodes;

    public async ValueTask DisposeAsync()
    {
        await _registry.DisposeAsync().ConfigureAwait(false);
        _bucket.Dispose();
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace Hyprstream.Replication;

/// <summary>One node's registration (<see cref="BucketLayout.Node"/>): where it serves, its role, how far it has applied, when it said so.</summary>
public sealed record NodeRegistration
{
    [JsonPropertyName("id")] public string Id { get; init; } = "";
    [JsonPropertyName("role")] public string Role { get; init; } = "";
    [JsonPropertyName("endpoint")] public string Endpoint { get; init; } = "";
    /// <summary>Every record up to this sequence is served by the node.</summary>
    [JsonPropertyName("applied_seq")] public ulong AppliedSeq { get; init; }
    [JsonPropertyName("updated")] public DateTime Updated { get; init; }
}

/// <summary>
/// The nodes that serve a bucket prefix (`serve --advertise grpc://HOST:PORT`, leader and followers): each writes its
/// registration every <see cref="Interval"/> and reads the others' in the same round, so <see cref="Serving"/>
/// answers from memory (GetFlightInfo lists those nodes as locations). A registration not renewed for
/// <see cref="Expiry"/> is a node that stopped: it is not listed. A stopping node deletes its own.
/// A failed round keeps the last list and says why in <see cref="LastError"/>.
/// </summary>
public sealed class NodeRegistry : IAsyncDisposable
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);
    public static readonly TimeSpan Expiry = TimeSpan.FromSeconds(10);

    private readonly ObjectStore _bucket;
    private readonly string _id, _role, _endpoint;
    private readonly Func<ulong> _applied;
    private readonly Action<string>? _log;
    private readonly CancellationTokenSource _stop = new();
    private volatile IReadOnlyList<NodeRegistration> _nodes = [];
    private Task? _loop;

    public NodeRegistry(ObjectStore bucket, string id, string role, string endpoint, Func<ulong> applied, Action<string>? log = null)
    {
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var u) || u.Scheme is not ("grpc" or "grpc+tcp" or "grpc+tls") || u.Port <= 0)
            throw new ArgumentException($"--advertise '{endpoint}' is not grpc://HOST:PORT");
        if (id.Length == 0 || id.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
            throw new ArgumentException($"node id '{id}' must be letters, digits, '-', '_' or '.'");
        _bucket = bucket;
        _id = id;
        _role = role;
        _endpoint = endpoint;
        _applied = applied;
        _log = log;
    }

    public string Id => _id;
    public string? LastError { get; private set; }

    /// <summary>The live registrations as of the last round (this node's included).</summary>
    public IReadOnlyList<NodeRegistration> Nodes => _nodes.Where(n => DateTime.UtcNow - n.Updated < Expiry).ToList();

    /// <summary>Endpoints of the live nodes that have applied at least <paramref name="sequence"/>, this node's first.</summary>
    public IReadOnlyList<string> Serving(ulong sequence) =>
        Nodes.Where(n => n.AppliedSeq >= sequence).OrderBy(n => n.Id == _id ? 0 : 1).ThenBy(n => n.Endpoint, StringComparer.Ordinal)
            .Select(n => n.Endpoint).Distinct().ToList();

    /// <summary>Registers now (a failure is thrown: the start fails clearly), then every <see cref="Interval"/>.</summary>
    public async Task StartAsync(CancellationToken ct = default)
    {
        await RoundAsync(ct).ConfigureAwait(false);
        _loop = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                try { await Task.Delay(Interval, _stop.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
                try
                {
                    await RoundAsync(_stop.Token).ConfigureAwait(false);
                    LastError = null;
                }
                catch (OperationCanceledException) when (_stop.IsCancellationRequested) { return; }
                catch (Exception ex)
                {
                    if (LastError != ex.Message) _log?.Invoke($"node registration in {_bucket.Root} failed (retrying): {ex.Message}");
                    LastError = ex.Message;
                }
            }
        });
    }

    /// <summary>Writes this node's registration and reads every node's.</summary>
    public async Task RoundAsync(CancellationToken ct = default)
    {
        var me = new NodeRegistration { Id = _id, Role = _role, Endpoint = _endpoint, AppliedSeq = _applied(), Updated = DateTime.UtcNow };
        await _bucket.PutAsync(BucketLayout.Node(_id), JsonSerializer.SerializeToUtf8Bytes(me), ct: ct).ConfigureAwait(false);
        var list = new List<NodeRegistration>();
        foreach (var entry in await _bucket.ListAsync(BucketLayout.NodesFolder, ct: ct).ConfigureAwait(false))
        {
            if (entry.Key == BucketLayout.Node(_id)) { list.Add(me); continue; }
            try
            {
                var o = await _bucket.GetAsync(entry.Key, ct: ct).ConfigureAwait(false);
                if (o != null && JsonSerializer.Deserialize<NodeRegistration>(o.Data) is { Endpoint.Length: > 0 } n) list.Add(n);
            }
            catch (Exception ex) when (ex is JsonException or DamagedObjectException) { } // not a registration: not a node
        }
        _nodes = list;
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        if (_loop != null) await _loop.ConfigureAwait(false);
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            await _bucket.DeleteAsync(BucketLayout.Node(_id), cts.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException) { } // it expires on its own
        _stop.Dispose();
    }
}

using System.Net;
using System.Security.Cryptography.X509Certificates;
using Hyprstream.Flight;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Service;

public sealed record FlightServiceOptions
{
    public required string DataDirectory { get; init; }
    /// <summary>Where `hyprstream serve` (<see cref="FlightServiceHost"/>) listens; a host app using
    /// AddHyprstreamFlight configures its own Kestrel and ignores this (and the certificate options).</summary>
    public IPEndPoint Listen { get; init; } = new(IPAddress.Loopback, 50051);
    /// <summary>Admin tokens (--token, HYPRSTREAM_TOKENS): full access, as the single-token mode always meant.</summary>
    public IReadOnlyCollection<string> Tokens { get; init; } = [];
    /// <summary>Tokens with a role and a tenant (--tokens-file, <see cref="TokensFile"/>).</summary>
    public IReadOnlyCollection<TokenGrant> Grants { get; init; } = [];
    public string? CertificatePath { get; init; }
    public string? CertificatePassword { get; init; }
    public int MaxMessageSize { get; init; } = 64 << 20;
    public int BatchRows { get; init; } = 16384;
    /// <summary>The durable store's fsync policy, cache budgets and snapshot threshold.</summary>
    public StoreOptions Store { get; init; } = new();
    /// <summary>One line per log event, when no <see cref="Loggers"/> are given (tests, benchmarks).</summary>
    public Action<string>? Log { get; init; }
    /// <summary>Where the service logs (`serve --log-format`); null: <see cref="Log"/>, else nowhere.</summary>
    public Microsoft.Extensions.Logging.ILoggerFactory? Loggers { get; init; }
    /// <summary>`--metrics`: where to serve GET /metrics, /healthz and /readyz over HTTP/1.1; null: no metrics at all.</summary>
    public IPEndPoint? Metrics { get; init; }
    /// <summary>`--allow-source`: object-store prefixes the `load` action may read .vdb files from (none: it reads none).</summary>
    public IReadOnlyList<Hyprstream.Replication.S3Uri> AllowedSources { get; init; } = [];
    /// <summary>How to reach the object store (null: the standard AWS variables).</summary>
    public Hyprstream.Replication.ObjectStoreSettings? ObjectStoreSettings { get; init; }
    /// <summary>`--object-store`: lead this bucket prefix (ship the store's WAL and checkpoints there; restore from it when the data directory is empty); null: no object store.</summary>
    public Hyprstream.Replication.LeaderOptions? Leader { get; init; }
    /// <summary>`--follow`: serve a read replica of this bucket prefix (<see cref="ServiceStore.Follow"/>); null: not a follower.</summary>
    public Hyprstream.Replication.FollowerOptions? Follow { get; init; }
}

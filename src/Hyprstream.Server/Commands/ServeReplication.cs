using System.CommandLine;
using System.Globalization;
using Hyprstream.Replication;

namespace Hyprstream.Server.Commands;

/// <summary>`serve`'s object-store options: lead a bucket prefix (--object-store) and how.</summary>
internal sealed class ServeReplication
{
    public Option<string?> ObjectStore { get; } = new("--object-store")
    {
        Description = "lead the store at s3://BUCKET/PREFIX: ship the write-ahead log and checkpoints there (one leader per prefix, a lease in the bucket); " +
                      "an empty data directory is restored from it first. Credentials and endpoint: the AWS_* variables, or --s3-endpoint",
    };
    public Option<string?> Endpoint { get; } = ObjectStoreOption.Create();
    public Option<string> ShipInterval { get; } = new("--ship-interval") { Description = "how often durable WAL records are shipped to the bucket, e.g. 1s, 200ms", DefaultValueFactory = _ => "1s" };
    public Option<string> Ack { get; } = new("--ack")
    {
        Description = "when a write is acknowledged: local (once durable on this node's disk; the bucket lags by up to the ship interval) or remote (once committed to the bucket: survives losing this machine)",
        DefaultValueFactory = _ => "local",
    };
    public Option<string> Lease { get; } = new("--lease") { Description = "how long the leader's lease lasts unless renewed (renewed every third); a node that stops answering is replaceable after it", DefaultValueFactory = _ => "15s" };
    public Option<string> Retention { get; } = new("--retention") { Description = "how long objects the bucket no longer needs stay (followers catching up read them)", DefaultValueFactory = _ => "10m" };
    public Option<string?> Advertise { get; } = new("--advertise") { Description = "grpc://HOST:PORT where clients and followers reach this node (written into the lease)" };

    public void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { ObjectStore, Endpoint, ShipInterval, Ack, Lease, Retention, Advertise }) cmd.Options.Add(o);
    }

    /// <summary>The leader's options; null without --object-store. Bad values are clear errors.</summary>
    public LeaderOptions? Leader(ParseResult r)
    {
        if (r.GetValue(ObjectStore) is not { } at) return null;
        var ack = r.GetValue(Ack)!;
        if (ack is not ("local" or "remote")) throw new ArgumentException($"--ack '{ack}' must be local or remote");
        var lease = Duration(r.GetValue(Lease)!, "--lease");
        if (lease < TimeSpan.FromSeconds(1)) throw new ArgumentException($"--lease {r.GetValue(Lease)} is too short (1s at least)");
        var advertise = AdvertisedEndpoint(r);
        return new LeaderOptions
        {
            Root = S3Uri.Parse(at),
            Store = ObjectStoreSettings.FromEnvironment(r.GetValue(Endpoint)),
            ShipInterval = Duration(r.GetValue(ShipInterval)!, "--ship-interval"),
            AckRemote = ack == "remote",
            Lease = lease,
            Retention = Duration(r.GetValue(Retention)!, "--retention"),
            Endpoint = advertise,
        };
    }

    /// <summary>--advertise, checked: grpc://HOST:PORT (or grpc+tcp, grpc+tls); null when not given.</summary>
    public string? AdvertisedEndpoint(ParseResult r)
    {
        var advertise = r.GetValue(Advertise);
        if (advertise != null && (!Uri.TryCreate(advertise, UriKind.Absolute, out var u) || u.Scheme is not ("grpc" or "grpc+tcp" or "grpc+tls") || u.Port <= 0))
            throw new ArgumentException($"--advertise '{advertise}' is not grpc://HOST:PORT");
        return advertise;
    }

    /// <summary>A duration as 250ms, 1s, 1.5s, 10m or 1h.</summary>
    internal static TimeSpan Duration(string text, string option)
    {
        var s = text.Trim();
        (string unit, double scale) = s.EndsWith("ms", StringComparison.Ordinal) ? ("ms", 1e-3)
            : s.EndsWith('s') ? ("s", 1) : s.EndsWith('m') ? ("m", 60) : s.EndsWith('h') ? ("h", 3600) : ("", 0);
        if (scale > 0 && double.TryParse(s[..^unit.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0 && double.IsFinite(v))
            return TimeSpan.FromSeconds(v * scale);
        throw new ArgumentException($"{option} '{text}' is not a duration (e.g. 250ms, 1s, 10m)");
    }
}

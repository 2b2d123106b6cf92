using System.CommandLine;
using Hyprstream.Replication;

namespace Hyprstream.Server.Commands;

/// <summary>`serve`'s read-replica options: follow a bucket prefix (--follow) and how often (--poll-interval).</summary>
internal sealed class ServeFollow
{
    public Option<string?> Follow { get; } = new("--follow")
    {
        Description = "serve a read replica of the store at s3://BUCKET/PREFIX (its leader runs `serve --object-store` there): restored from the bucket at start, " +
                      "kept current from the leader's shipped write-ahead log; writes are refused naming the leader. Keeps no local state (--data holds only the replica, rebuilt at every start)",
    };
    public Option<string> PollInterval { get; } = new("--poll-interval") { Description = "how often a follower reads the bucket for new records, e.g. 500ms, 2s", DefaultValueFactory = _ => "500ms" };

    public void AddTo(Command cmd)
    {
        cmd.Options.Add(Follow);
        cmd.Options.Add(PollInterval);
    }

    /// <summary>A follower's data directory when --data is not given: a private one under the temp folder, removed when serve stops.</summary>
    public string? DefaultData(ParseResult r) =>
        r.GetValue(Follow) == null ? null : Path.Combine(Path.GetTempPath(), $"hyprstream-follow-{Environment.ProcessId}");

    /// <summary>The follower's options; null without --follow. --object-store with it is a clear error.</summary>
    public FollowerOptions? Follower(ParseResult r, ServeReplication replication)
    {
        if (r.GetValue(Follow) is not { } at) return null;
        if (r.GetValue(replication.ObjectStore) != null)
            throw new ArgumentException("--follow and --object-store exclude each other: a node either leads a prefix or follows one");
        var advertise = replication.AdvertisedEndpoint(r);
        return new FollowerOptions
        {
            Root = S3Uri.Parse(at),
            Store = ObjectStoreSettings.FromEnvironment(r.GetValue(replication.Endpoint)),
            PollInterval = ServeReplication.Duration(r.GetValue(PollInterval)!, "--poll-interval"),
            Endpoint = advertise,
        };
    }
}

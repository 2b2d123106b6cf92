namespace Hyprstream.Replication;

/// <summary>How a read replica follows a bucket prefix (`serve --follow`).</summary>
public sealed record FollowerOptions
{
    /// <summary>The store followed (s3://BUCKET/PREFIX), written by its leader (`serve --object-store`).</summary>
    public required S3Uri Root { get; init; }
    /// <summary>How to reach the object store.</summary>
    public required ObjectStoreSettings Store { get; init; }
    /// <summary>How often the manifest is read for new records (`--poll-interval`).</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(500);
    /// <summary>Where this node serves Flight (grpc://HOST:PORT; `--advertise`): registered in the bucket for GetFlightInfo locations.</summary>
    public string? Endpoint { get; init; }
    /// <summary>This node's identity in its registration; a new one per process.</summary>
    public string Id { get; init; } = $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}";
}

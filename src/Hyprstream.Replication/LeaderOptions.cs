namespace Hyprstream.Replication;

/// <summary>How a leader ships its store to the bucket (`serve --object-store`).</summary>
public sealed record LeaderOptions
{
    /// <summary>Where the store lives in the object store (s3://BUCKET/PREFIX).</summary>
    public required S3Uri Root { get; init; }
    /// <summary>How to reach the object store.</summary>
    public required ObjectStoreSettings Store { get; init; }
    /// <summary>How often durable WAL records are shipped (`--ship-interval`); with <see cref="AckRemote"/> a waiting write ships at once.</summary>
    public TimeSpan ShipInterval { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>How long the lease lasts unless renewed (renewed every third of it; `--lease`).</summary>
    public TimeSpan Lease { get; init; } = TimeSpan.FromSeconds(15);
    /// <summary>How long objects the manifest no longer names stay in the bucket (followers catching up still read them).</summary>
    public TimeSpan Retention { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>`--ack remote`: a write is acknowledged only once its chunk is committed to the bucket.</summary>
    public bool AckRemote { get; init; }
    /// <summary>Where this node serves Flight (grpc://HOST:PORT), written into the lease for followers and clients.</summary>
    public string? Endpoint { get; init; }
    /// <summary>This leader's identity in the lease; a new one per process.</summary>
    public string Id { get; init; } = $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}";
    /// <summary>A chunk holds at most this many bytes of records (one record at least).</summary>
    public int MaxChunkBytes { get; init; } = 32 << 20;
    /// <summary>Past this many committed chunks the leader asks the store for a checkpoint, so the manifest stays small.</summary>
    public int CheckpointAfterChunks { get; init; } = 2000;
    /// <summary>Where the leader reports what an operator must see (lease, shipping failures, restores).</summary>
    public Action<string>? Log { get; init; }
}

using System.Text.Json.Serialization;

namespace Hyprstream.Replication;

/// <summary>The replication section of `stats` on a leader: how far the bucket is behind the local store, and why, if shipping fails.</summary>
public sealed record ReplicationStats
{
    [JsonPropertyName("role")] public string Role { get; init; } = "leader";
    [JsonPropertyName("bucket")] public string Bucket { get; init; } = "";
    [JsonPropertyName("leader_id")] public string LeaderId { get; init; } = "";
    [JsonPropertyName("epoch")] public long Epoch { get; init; }
    [JsonPropertyName("ack")] public string Ack { get; init; } = "local";
    /// <summary>Every record up to this sequence is committed in the bucket.</summary>
    [JsonPropertyName("shipped_seq")] public ulong ShippedSeq { get; init; }
    /// <summary>The local store's last durable sequence.</summary>
    [JsonPropertyName("local_seq")] public ulong LocalSeq { get; init; }
    [JsonPropertyName("lag_records")] public ulong LagRecords { get; init; }
    /// <summary>How long the bucket has been behind the local store (0 when caught up).</summary>
    [JsonPropertyName("lag_seconds")] public double LagSeconds { get; init; }
    [JsonPropertyName("chunks")] public int Chunks { get; init; }
    [JsonPropertyName("checkpoint_segment")] public long CheckpointSegment { get; init; }
    [JsonPropertyName("lease_until")] public DateTime LeaseUntil { get; init; }
    [JsonPropertyName("last_commit")] public DateTime? LastCommit { get; init; }
    /// <summary>The last shipping failure, while it lasts (null once a round succeeds).</summary>
    [JsonPropertyName("last_error")] public string? LastError { get; init; }
    /// <summary>Why this node no longer leads (its lease was taken); null while it does.</summary>
    [JsonPropertyName("lost")] public string? Lost { get; init; }
}

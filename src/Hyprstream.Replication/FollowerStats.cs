using System.Text.Json.Serialization;

namespace Hyprstream.Replication;

/// <summary>The replication section of `stats` on a read replica: how far it is behind its leader.</summary>
public sealed record FollowerStats
{
    [JsonPropertyName("role")] public string Role { get; init; } = "follower";
    [JsonPropertyName("bucket")] public string Bucket { get; init; } = "";
    /// <summary>Every record up to this sequence is applied here.</summary>
    [JsonPropertyName("applied_seq")] public ulong AppliedSeq { get; init; }
    /// <summary>The leader's last shipped sequence, as of the last manifest read.</summary>
    [JsonPropertyName("leader_seq")] public ulong LeaderSeq { get; init; }
    [JsonPropertyName("lag_records")] public ulong LagRecords { get; init; }
    [JsonPropertyName("lag_seconds")] public double LagSeconds { get; init; }
    [JsonPropertyName("leader_id")] public string? LeaderId { get; init; }
    [JsonPropertyName("leader_endpoint")] public string? LeaderEndpoint { get; init; }
    [JsonPropertyName("epoch")] public long Epoch { get; init; }
    [JsonPropertyName("last_poll")] public DateTime? LastPoll { get; init; }
    /// <summary>Why the last poll failed; null after a good one.</summary>
    [JsonPropertyName("last_error")] public string? LastError { get; init; }
    /// <summary>Times this replica was rebuilt from a newer checkpoint because the records it needed had left the bucket.</summary>
    [JsonPropertyName("resyncs")] public int Resyncs { get; init; }

    public static FollowerStats Of(BucketFollower f) => new()
    {
        Bucket = f.Bucket.ToString(), AppliedSeq = f.Store.AppliedSequence, LeaderSeq = f.LeaderSequence, LagRecords = f.LagRecords,
        LagSeconds = Math.Round(f.LagSeconds, 3), LeaderId = f.Leader?.Id, LeaderEndpoint = f.Leader?.Endpoint, Epoch = f.Leader?.Epoch ?? 0,
        LastPoll = f.LastPoll, LastError = f.LastError, Resyncs = f.Resyncs,
    };
}

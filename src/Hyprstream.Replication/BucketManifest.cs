using System.Text.Json;
using System.Text.Json.Serialization;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Replication;

/// <summary>
/// The bucket's one mutable object (<see cref="BucketLayout.Manifest"/>): who leads the prefix and until when, the
/// store manifest of the last checkpoint that was shipped whole, and the WAL chunks committed since. A reader's view
/// of the store is exactly: <see cref="Store"/>'s checkpoints, then every chunk in <see cref="Chunks"/> replayed in
/// order (records a checkpoint already holds are skipped by their sequence, as in local recovery).
/// </summary>
public sealed class BucketManifest
{
    public const int CurrentFormat = 1;

    public int Format { get; set; } = CurrentFormat;
    /// <summary>The node that leads the prefix; null before any leader took it.</summary>
    public LeaderLease? Leader { get; set; }
    /// <summary>The local store manifest of the last checkpoint whose files are all in the bucket.</summary>
    public StoreManifest Store { get; set; } = new();
    /// <summary>The WAL chunks committed since (those of segments ≥ <see cref="StoreManifest.WalSegment"/>), in order.</summary>
    public List<WalChunk> Chunks { get; set; } = [];
    /// <summary>Every record with a sequence ≤ this is in the bucket (in a checkpoint or a chunk).</summary>
    public ulong ShippedSeq { get; set; }
    /// <summary>When the leader last committed (UTC).</summary>
    public DateTime ShippedAt { get; set; }

    public byte[] Encode() => JsonSerializer.SerializeToUtf8Bytes(this, Json);

    /// <summary>Parses a manifest object (its checksum was verified by <see cref="ObjectStore"/>); a foreign or newer format is a clear error.</summary>
    public static BucketManifest Decode(byte[] json, string where)
    {
        BucketManifest? m;
        try { m = JsonSerializer.Deserialize<BucketManifest>(json, Json); }
        catch (JsonException e) { throw new InvalidDataException($"{where} is not a hyprstream bucket manifest: {e.Message}", e); }
        if (m == null) throw new InvalidDataException($"{where} is empty");
        if (m.Format != CurrentFormat)
            throw new InvalidDataException($"{where} has format {m.Format}; this hyprstream reads format {CurrentFormat} (a newer version wrote it?)");
        return m;
    }

    /// <summary>Reads the manifest and its ETag (for the conditional write that replaces it); null when the prefix holds no store yet.</summary>
    public static async Task<(BucketManifest Manifest, string ETag)?> ReadAsync(ObjectStore store, CancellationToken ct = default)
    {
        var o = await store.GetAsync(BucketLayout.Manifest, ct: ct).ConfigureAwait(false);
        if (o == null) return null;
        return (Decode(o.Data, $"{store.Root}/{BucketLayout.Manifest}"), o.ETag);
    }

    private static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
}

/// <summary>The lease on a prefix: the leader's identity, its advertised endpoint, the epoch (one more on every takeover) and when it ends unless renewed.</summary>
public sealed class LeaderLease
{
    /// <summary>Unique per leader process (a new one at every start).</summary>
    public string Id { get; set; } = "";
    public string Host { get; set; } = "";
    /// <summary>Where the leader serves Flight (grpc://HOST:PORT), when it advertises one.</summary>
    public string? Endpoint { get; set; }
    public long Epoch { get; set; }
    public DateTime Until { get; set; }
}

/// <summary>One committed WAL chunk: its object key, the local segment it came from, its first and last record sequences, its size.</summary>
public sealed record WalChunk(string Key, long Segment, ulong FirstSeq, ulong LastSeq, long Bytes);

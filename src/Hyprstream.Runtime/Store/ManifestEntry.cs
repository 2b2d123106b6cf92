using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using Hyprstream.Runtime.Bytes;

namespace Hyprstream.Runtime.Store;

/// <summary>One adapter in the manifest: its current snapshot, the last WAL sequence folded into it, tags, embedding.</summary>
public sealed class ManifestEntry
{
    public string Name { get; set; } = "";
    public string? BaseModel { get; set; }
    /// <summary>Checkpoint file name under checkpoints/, or null while the adapter exists only in the WAL.</summary>
    [System.Text.Json.Serialization.JsonPropertyName("Snapshot")] // the manifest's field names are its format
    public string? Checkpoint { get; set; }
    [System.Text.Json.Serialization.JsonPropertyName("SnapshotSeq")]
    public ulong CheckpointSeq { get; set; }
    public string[] Tags { get; set; } = [];
    /// <summary>zstd frame of the byte-planed float32 embedding (base64 in JSON), or null.</summary>
    public byte[]? Embedding { get; set; }
    /// <summary>Why the adapter is quarantined (a WAL record of it could not be replayed), or null when it is served.</summary>
    public string? Quarantine { get; set; }
    /// <summary>The sequence of the record that could not be replayed (with <see cref="Quarantine"/>).</summary>
    public ulong QuarantineSeq { get; set; }
}

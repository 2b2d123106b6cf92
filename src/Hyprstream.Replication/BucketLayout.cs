using System.Globalization;

namespace Hyprstream.Replication;

/// <summary>
/// Where a store's objects live under its prefix (s3://BUCKET/PREFIX/…):
///   manifest                       <see cref="BucketManifest"/>: the leader's lease, the store manifest of the last
///                                  shipped checkpoint, the committed WAL chunks. Only ever replaced with a
///                                  conditional PUT (If-None-Match: * to create, If-Match: ETag after): it is both
///                                  the lease and the commit point.
///   checkpoints/FILE               the checkpoint files (.vdb and its .nvdb snapshot) named by the store manifest;
///                                  their names carry the WAL sequence, so an object is never rewritten
///   wal/SSSSSS-Q(20)-L(20).log     one WAL chunk: whole records of local segment S, sequences Q to L, verbatim
///                                  (the local WAL's record format); immutable
///   nodes/ID.json                  a node's registration (<c>--advertise</c>): where it serves, its role, how far it
///                                  has applied, when it last said so
/// Every object carries its CRC32C and length (<see cref="ObjectStore"/>); an object under the prefix that the store
/// did not write is refused, never served. An object exists in the bucket's state only once the manifest names it:
/// chunks and checkpoints are uploaded first, then the manifest is committed.
/// </summary>
public static class BucketLayout
{
    public const string Manifest = "manifest";
    public const string CheckpointsFolder = "checkpoints/";
    public const string WalFolder = "wal/";
    public const string NodesFolder = "nodes/";

    public static string Checkpoint(string file) => CheckpointsFolder + file;

    /// <summary>
    /// A chunk's key names its whole range: a retried upload that starts at the same record but reaches further (its
    /// first attempt's commit was acknowledged by the store, yet the answer was lost) is another object, never a
    /// replacement of the one a manifest may already name.
    /// </summary>
    public static string Chunk(long segment, ulong firstSeq, ulong lastSeq) =>
        $"{WalFolder}{segment.ToString("D6", CultureInfo.InvariantCulture)}-{firstSeq.ToString("D20", CultureInfo.InvariantCulture)}-{lastSeq.ToString("D20", CultureInfo.InvariantCulture)}.log";

    public static string Node(string id) => $"{NodesFolder}{id}.json";
}

namespace Hyprstream.Replication;

/// <summary>A run of whole WAL records read from one local segment (bytes <see cref="Offset"/> to <see cref="End"/>), ready to upload as one chunk.</summary>
public sealed record WalChunkRead(long Segment, long Offset, long End, ulong FirstSeq, ulong LastSeq, int Records, byte[] Data)
{
    public string Key => BucketLayout.Chunk(Segment, FirstSeq, LastSeq);
}

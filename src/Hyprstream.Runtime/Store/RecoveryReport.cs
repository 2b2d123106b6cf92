namespace Hyprstream.Runtime.Store;

/// <summary>What opening a store found and did: replayed records, and what was dropped from a torn or corrupt tail.</summary>
public sealed record RecoveryReport(int Adapters, int SegmentsRead, long RecordsReplayed, long RecordsSkipped, long WalBytesRead,
    long DroppedBytes, string? DropReason, int OrphansRemoved, TimeSpan Elapsed)
{
    /// <summary>Adapters not served because a record of theirs could not be replayed (see <see cref="AdapterStore.Quarantined"/>).</summary>
    public int QuarantinedAdapters { get; init; }
    /// <summary>Records of quarantined adapters kept for repair instead of replayed.</summary>
    public long RecordsHeld { get; init; }
    /// <summary>The highest WAL sequence found.</summary>
    public ulong LastSequence { get; init; }
    public bool Clean => DroppedBytes == 0 && QuarantinedAdapters == 0;
    public override string ToString() =>
        $"{Adapters} adapters, {RecordsReplayed} WAL records replayed ({RecordsSkipped} already in checkpoints) from {WalBytesRead} B in {Elapsed.TotalMilliseconds:F0} ms" +
        (DroppedBytes > 0 ? $"; dropped {DroppedBytes} B of torn/corrupt tail ({DropReason})" : "") +
        (OrphansRemoved > 0 ? $"; removed {OrphansRemoved} leftover files" : "") +
        (QuarantinedAdapters > 0 ? $"; {QuarantinedAdapters} adapters QUARANTINED ({RecordsHeld} records held; run `hyprstream store repair`)" : "");
}

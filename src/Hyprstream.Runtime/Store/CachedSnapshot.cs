using Hyprstream.Runtime.Snapshots;

namespace Hyprstream.Runtime.Store;

/// <summary>
/// An adapter's state as a read-only NanoVDB snapshot held by a cache tier: a buffer in RAM (L2) or a mapped snapshot
/// file (L3: its checkpoint's `.nvdb`, or a spill file in cache/ while the state is newer than its checkpoint). Readers
/// lease it and read it in place; it is retired when the adapter moves or changes, and freed (unmapped) by the last
/// lease. <see cref="Seq"/> is the WAL sequence of the state it holds.
/// </summary>
internal sealed class CachedSnapshot(AdapterSnapshot snapshot, ulong seq, string? path = null)
{
    public readonly AdapterSnapshot Snapshot = snapshot;
    public readonly ulong Seq = seq;
    /// <summary>The mapped file (null for a buffer in RAM).</summary>
    public readonly string? Path = path;
    /// <summary>Set when the file is a spill file the cache owns (deleted when the snapshot leaves the cache).</summary>
    public bool Spill { get; init; }
    public int Leases;
    public bool Retired;
    public long Bytes => Snapshot.ByteSize;
}

using Hyprstream.Runtime.Snapshots;

namespace Hyprstream.Runtime.Store;

/// <summary>
/// An adapter's snapshot file, mapped, while the adapter's state is the one that file holds (state
/// <see cref="Seq"/>): what a cold read is served from, with no grid built. Shared by the readers that lease it;
/// retired when the adapter changes, and unmapped by the last lease.
/// </summary>
internal sealed class MappedSnapshot(AdapterSnapshot snapshot, ulong seq)
{
    public readonly AdapterSnapshot Snapshot = snapshot;
    public readonly ulong Seq = seq;
    public int Leases;
    public bool Retired;
}

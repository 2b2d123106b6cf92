using Hyprstream.Replication;

namespace Hyprstream.Service;

/// <summary>The store's place in the object-store tier: the leader that ships it (`serve --object-store`), if any.</summary>
public sealed partial class ServiceStore
{
    /// <summary>The leader shipping this store to its bucket prefix; null without an object store.</summary>
    public ReplicationLeader? Leader { get; private set; }

    /// <summary>Hands the opened store to <paramref name="leader"/>: shipping starts, and its lease gates every write.</summary>
    internal void Lead(ReplicationLeader leader)
    {
        Leader = leader; // first: a refused attach still stops the leader (and releases its lease) when the store is disposed
        leader.Attach(Store);
    }

    /// <summary>The replication section of `stats`; null without an object store.</summary>
    public object? ReplicationStats() => (object?)Leader?.Stats() ?? FollowerStatsOrNull();

    private void StopReplication()
    {
        var leader = Leader;
        Leader = null;
        leader?.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}

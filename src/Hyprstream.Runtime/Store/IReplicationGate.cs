namespace Hyprstream.Runtime.Store;

/// <summary>
/// What a replicating leader (the object-store tier) asks of the store it ships (<see cref="AdapterStore.AttachReplication"/>):
/// whether writes are allowed at all (a leader that lost its lease refuses them), whether an acknowledgement waits
/// for the record to be committed remotely (<c>--ack remote</c>), and which WAL segments must stay on disk because
/// they are not shipped yet. Implementations answer quickly and never throw from the properties.
/// </summary>
public interface IReplicationGate
{
    /// <summary>Null while writes are accepted; else why they are refused (the store throws <see cref="StoreUnavailableException"/> with it).</summary>
    string? WriteRefusal { get; }

    /// <summary>True when an acknowledgement waits for <see cref="WhenReplicatedAsync"/> too, not only the local fsync.</summary>
    bool AcknowledgeRemotely { get; }

    /// <summary>Completes once record <paramref name="seq"/> (already locally durable) is committed remotely; faults with the reason when it never will be.</summary>
    Task WhenReplicatedAsync(ulong seq);

    /// <summary>The lowest WAL segment that is not wholly shipped: the store deletes no segment from this one on.</summary>
    long KeepWalFrom { get; }
}

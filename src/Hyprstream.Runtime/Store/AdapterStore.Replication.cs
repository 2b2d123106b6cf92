namespace Hyprstream.Runtime.Store;

/// <summary>
/// The hooks the object-store tier's leader needs (<see cref="IReplicationGate"/>): writes refused while it says so,
/// acknowledgements that also wait for the remote commit with <c>--ack remote</c>, WAL segments kept until shipped,
/// and what the shipper reads (the WAL folder, the durable sequence, the current segment).
/// </summary>
public sealed partial class AdapterStore
{
    private volatile IReplicationGate? _replication;

    /// <summary>Connects the leader that ships this store; from now on its gate applies to every write and acknowledgement.</summary>
    public void AttachReplication(IReplicationGate gate)
    {
        ArgumentNullException.ThrowIfNull(gate);
        if (_readOnly) throw new InvalidOperationException($"the store in {_dir} is open read-only: there is nothing to ship");
        _replication = gate;
    }

    /// <summary>The folder of the WAL segments (wal/NNNNNN.log).</summary>
    public string WalDirectory => _walDir;

    /// <summary>Every record with a sequence up to this one is written and as durable as the fsync policy asks.</summary>
    public ulong DurableSequence => Wal.DurableSequence;

    /// <summary>The last sequence handed out (written to the OS, maybe not yet durable).</summary>
    public ulong LastSequence => Wal.LastSequence;

    /// <summary>The segment appends go to now.</summary>
    public long CurrentWalSegment => Wal.Segment;

    /// <summary>Deletes the WAL segments that checkpoints hold and the leader has shipped (kept back by <see cref="IReplicationGate.KeepWalFrom"/> until then).</summary>
    public void ReleaseShippedWal()
    {
        lock (_checkpointLock)
        {
            if (_disposed) return;
            Wal.DeleteBefore(WalKeepFrom(_walSegment));
        }
    }

    /// <summary>The first segment a checkpoint that folded everything below <paramref name="folded"/> may not delete.</summary>
    private long WalKeepFrom(long folded) => _replication is { } r ? Math.Min(folded, r.KeepWalFrom) : folded;

    /// <summary>Bytes of the WAL not folded into checkpoints (segments kept only for shipping do not count: a checkpoint would not shrink them).</summary>
    private long WalBytesToFold() =>
        _replication == null ? Wal.DiskBytes : WriteAheadLog.Segments(_walDir).Where(s => s.Segment >= _walSegment).Sum(s => new FileInfo(s.Path).Length);

    private void ThrowIfReplicaRefuses()
    {
        if (_replication?.WriteRefusal is { } why) throw new StoreUnavailableException(why);
    }

    /// <summary>Blocks until record <paramref name="seq"/> is acknowledged: durable per the fsync policy and, with <c>--ack remote</c>, committed remotely.</summary>
    public void WaitDurable(ulong seq)
    {
        Wal.WaitDurable(seq);
        if (_replication is { AcknowledgeRemotely: true } r) r.WhenReplicatedAsync(seq).GetAwaiter().GetResult();
    }

    /// <summary>Completes once record <paramref name="seq"/> is acknowledged (see <see cref="WaitDurable"/>), without holding a thread meanwhile.</summary>
    public Task WhenDurableAsync(ulong seq)
    {
        var local = Wal.WhenDurableAsync(seq);
        if (_replication is not { AcknowledgeRemotely: true } r) return local;
        return local.IsCompletedSuccessfully ? r.WhenReplicatedAsync(seq) : Remote(local, r, seq);

        static async Task Remote(Task local, IReplicationGate r, ulong seq)
        {
            await local.ConfigureAwait(false);
            await r.WhenReplicatedAsync(seq).ConfigureAwait(false);
        }
    }
}

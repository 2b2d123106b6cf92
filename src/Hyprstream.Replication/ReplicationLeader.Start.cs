using Hyprstream.Runtime.Store;

namespace Hyprstream.Replication;

/// <summary>
/// Taking the lead of a prefix: the lease (created with If-None-Match: * on a new prefix; taken over with If-Match
/// and the next epoch once the last leader's lease has expired; a live lease of another node is refused, naming it),
/// then the local store directory: empty → restored from the bucket; holding the store this directory led last time
/// (<see cref="LeaderMarker"/>) → continued; anything else → refused, since the bucket has moved past it.
/// </summary>
public sealed partial class ReplicationLeader
{
    /// <summary>
    /// Takes the lease on <see cref="LeaderOptions.Root"/> for the store in <paramref name="storeDir"/>, restores the
    /// store from the bucket when the directory is empty, and starts renewing the lease. The caller then opens the
    /// store and <see cref="Attach"/>es it. Throws <see cref="LeaseRefusedException"/> when this node may not lead.
    /// </summary>
    public static async Task<ReplicationLeader> StartAsync(LeaderOptions options, string storeDir, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        storeDir = Path.GetFullPath(storeDir);
        var bucket = new ObjectStore(options.Root, options.Store);
        ReplicationLeader? leader = null;
        try
        {
            bool hasLocal = HoldsState(storeDir);
            var (manifest, etag) = await TakeLeaseAsync(bucket, options, storeDir, hasLocal, ct).ConfigureAwait(false);
            leader = new ReplicationLeader(bucket, options, storeDir, manifest, etag);
            options.Log?.Invoke($"leading {options.Root} as {options.Id} (epoch {manifest.Leader!.Epoch}, lease {options.Lease.TotalSeconds:0.#} s, ack {(options.AckRemote ? "remote" : "local")}); " +
                                $"the bucket holds records up to {manifest.ShippedSeq} ({manifest.Store.Adapters.Count} checkpointed adapters, {manifest.Chunks.Count} WAL chunks)");
            leader.StartLoop();
            if (!hasLocal && HoldsAnything(manifest))
            {
                // Leftovers that hold no state (an empty WAL segment, the lock, the spill folder) make way for the restore.
                if (Directory.Exists(storeDir)) Directory.Delete(storeDir, recursive: true);
                var report = await BucketRestore.MaterializeAsync(bucket, manifest, storeDir,
                    p => options.Log?.Invoke($"restoring from {options.Root}: {p}"), ct).ConfigureAwait(false);
                options.Log?.Invoke($"restored {storeDir} from {options.Root}: {report.Adapters} adapters, {report.CheckpointFiles} checkpoint files, " +
                                    $"{report.Chunks} WAL chunks, {report.Bytes:N0} bytes, up to record {report.LastSequence}, in {report.Elapsed.TotalSeconds:0.00} s");
            }
            new LeaderMarker(options.Root.ToString(), options.Id, manifest.Leader!.Epoch).Write(storeDir);
            await leader.AfterStartAsync(ct).ConfigureAwait(false);
            return leader;
        }
        catch
        {
            if (leader != null) await leader.DisposeAsync().ConfigureAwait(false);
            else bucket.Dispose();
            throw;
        }
    }

    private static async Task<(BucketManifest, string)> TakeLeaseAsync(ObjectStore bucket, LeaderOptions o, string storeDir, bool hasLocal, CancellationToken ct)
    {
        var read = await BucketManifest.ReadAsync(bucket, ct).ConfigureAwait(false);
        if (read is not { } current)
        {
            var fresh = new BucketManifest { Leader = LeaseOf(o, 1), ShippedAt = DateTime.UtcNow };
            try { return (fresh, await bucket.PutAsync(BucketLayout.Manifest, fresh.Encode(), ifNoneMatch: true, ct: ct).ConfigureAwait(false)); }
            catch (ObjectChangedException) { throw await RefusalAsync(bucket, o, "another node created it at the same moment", ct).ConfigureAwait(false); }
        }
        var (old, oldTag) = current;
        if (old.Leader is { } l && l.Until > DateTime.UtcNow)
            throw new LeaseRefusedException(
                $"{o.Root} is led by {Describe(l)} until {l.Until:u} ({(l.Until - DateTime.UtcNow).TotalSeconds:0} s from now): a second leader on the same prefix is refused; " +
                "stop that leader first (its lease is released when it stops), or wait for its lease to expire if it is gone");
        if (hasLocal && ContinuationError(old, LeaderMarker.Read(storeDir), o.Root, storeDir) is { } why) throw new LeaseRefusedException(why);
        var next = BucketManifest.Decode(old.Encode(), o.Root.ToString());
        next.Leader = LeaseOf(o, (old.Leader?.Epoch ?? 0) + 1);
        try { return (next, await bucket.PutAsync(BucketLayout.Manifest, next.Encode(), ifMatch: oldTag, ct: ct).ConfigureAwait(false)); }
        catch (ObjectChangedException) { throw await RefusalAsync(bucket, o, "another node took it at the same moment", ct).ConfigureAwait(false); }
    }

    private static async Task<LeaseRefusedException> RefusalAsync(ObjectStore bucket, LeaderOptions o, string what, CancellationToken ct)
    {
        var now = await BucketManifest.ReadAsync(bucket, ct).ConfigureAwait(false);
        return new LeaseRefusedException($"could not take the lease on {o.Root}: {what}" +
                                         (now?.Manifest.Leader is { } l ? $" ({Describe(l)})" : ""));
    }

    /// <summary>Why a non-empty local store may not continue the bucket's history; null when it may.</summary>
    private static string? ContinuationError(BucketManifest bucket, LeaderMarker? marker, S3Uri root, string storeDir)
    {
        if (!HoldsAnything(bucket) && bucket.Leader == null) return null; // a new prefix: this store seeds it
        const string fix = "move it away and start on an empty data directory to recover the store from the bucket, or lead another prefix";
        if (marker == null || marker.Root != root.ToString())
            return $"the store in {storeDir} did not come from {root} ({(marker == null ? $"it has no {LeaderMarker.FileName}" : $"it leads {marker.Root}")}), " +
                   $"and {root} already holds a store: refusing to mix the two; {fix}";
        if (bucket.Leader is { } l && (l.Id != marker.Id || l.Epoch != marker.Epoch))
            return $"{root} was led by {Describe(l)} since the store in {storeDir} last led it (epoch {marker.Epoch}): the local store is behind the bucket " +
                   $"(writes made since are not in it); {fix}";
        return null;
    }

    /// <summary>True when the directory holds a store's state (a manifest, a WAL record, a checkpoint file).</summary>
    private static bool HoldsState(string storeDir) =>
        Directory.Exists(storeDir) && (File.Exists(Path.Combine(storeDir, StoreManifest.FileName))
            || (Directory.Exists(Path.Combine(storeDir, "wal")) && WriteAheadLog.Segments(Path.Combine(storeDir, "wal")).Any(s => new FileInfo(s.Path).Length > 0))
            || (Directory.Exists(Path.Combine(storeDir, AdapterStore.CheckpointFolder)) && Directory.EnumerateFiles(Path.Combine(storeDir, AdapterStore.CheckpointFolder)).Any()));

    private static bool HoldsAnything(BucketManifest m) => m.ShippedSeq > 0 || m.Chunks.Count > 0 || m.Store.Adapters.Count > 0;

    private static LeaderLease LeaseOf(LeaderOptions o, long epoch) => new()
    {
        Id = o.Id, Host = Environment.MachineName, Endpoint = o.Endpoint, Epoch = epoch, Until = DateTime.UtcNow + o.Lease,
    };

    private static string Describe(LeaderLease l) =>
        $"{l.Id} on {l.Host}{(l.Endpoint != null ? $" serving {l.Endpoint}" : "")} (epoch {l.Epoch})";
}

using Grpc.Core;
using Hyprstream.Replication;

namespace Hyprstream.Service;

/// <summary>
/// The store of a read replica (`serve --follow s3://B/P`): the follower's replica, restored from the bucket into
/// `&lt;data&gt;/.replica` at every start (a follower keeps no local state) and kept current by the follower's polls.
/// Clients read it as any store; every change is refused with FAILED_PRECONDITION naming the leader.
/// </summary>
public sealed partial class ServiceStore
{
    /// <summary>The replica's folder inside a follower's data directory.</summary>
    public const string ReplicaFolder = ".replica";

    /// <summary>The follower keeping this store current; null on a leader or a standalone node.</summary>
    public BucketFollower? Follower { get; private set; }

    private ServiceStore(string dataDirectory, BucketFollower follower, Action<string>? log)
    {
        DataDirectory = dataDirectory;
        _log = log;
        Follower = follower;
        Store = follower.Store;
    }

    /// <summary>
    /// Bootstraps a follower of <paramref name="options"/>' prefix in <paramref name="dataDirectory"/> and starts its
    /// polls. A data directory that holds a store of its own is refused: a follower keeps nothing there but its
    /// replica and index, both rebuilt at every start.
    /// </summary>
    public static ServiceStore Follow(string dataDirectory, FollowerOptions options, Action<string>? log = null)
    {
        var dir = Path.GetFullPath(dataDirectory);
        if (Directory.Exists(Path.Combine(dir, StoreFolder)))
            throw new InvalidOperationException($"{dir} holds a store of its own ({StoreFolder}); a follower keeps no local state: give `serve --follow` a data directory of its own (--data)");
        Directory.CreateDirectory(dir);
        var index = Path.Combine(dir, ".index");
        if (Directory.Exists(index)) Directory.Delete(index, recursive: true); // the follower's index follows its replica
        var bucket = new ObjectStore(options.Root, options.Store);
        BucketFollower follower;
        try { follower = BucketFollower.StartAsync(bucket, Path.Combine(dir, ReplicaFolder), log).GetAwaiter().GetResult(); }
        catch
        {
            bucket.Dispose();
            throw;
        }
        follower.Run(options.PollInterval);
        log?.Invoke($"following {options.Root} (leader {follower.Leader?.Id ?? "none"}{(follower.Leader?.Endpoint is { } e ? $" at {e}" : "")}), " +
                    $"applied up to sequence {follower.Store.AppliedSequence}, polling every {options.PollInterval.TotalMilliseconds:F0} ms");
        return new ServiceStore(dir, follower, log) { _followerBucket = bucket };
    }

    private ObjectStore? _followerBucket;

    /// <summary>On a follower: throws FAILED_PRECONDITION naming the leader, for <paramref name="what"/> (a DoPut, a changing action).</summary>
    public void RefuseWritesOnFollower(string what)
    {
        if (Follower is not { } f) return;
        var leader = f.Leader;
        var to = leader == null ? "no leader holds the lease now"
            : $"send it to the leader {leader.Id}" + (leader.Endpoint is { } e ? $" at {e}" : " (it advertises no endpoint)");
        var trailers = new Metadata();
        if (leader?.Endpoint is { } endpoint) trailers.Add("hyprstream-leader", endpoint);
        throw new RpcException(new Status(StatusCode.FailedPrecondition, $"{what} is refused: this node is a read replica of {f.Bucket}; {to}"), trailers);
    }

    /// <summary>The replication section of `stats` on a follower; null elsewhere.</summary>
    private FollowerStats? FollowerStatsOrNull() => Follower is { } f ? FollowerStats.Of(f) : null;

    private void StopFollowing()
    {
        var f = Follower;
        Follower = null;
        f?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _followerBucket?.Dispose();
    }
}

using System.Diagnostics;
using Hyprstream.Replication;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Bench;

/// <summary>
/// A read replica (<see cref="BucketFollower"/>, in-process) following the leader a benchmark writes to, sampled every
/// 20 ms: how many records it is behind the leader's local store, and for how long the oldest record it lacks has
/// existed on the leader (seconds). Started once the leader holds the prefix; stopped when the writes stop.
/// </summary>
internal sealed class FollowerLag : IAsyncDisposable
{
    private readonly BucketFollower _follower;
    private readonly AdapterStore _leader;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<(double T, ulong LeaderSeq)> _leaderAt = [];
    private readonly List<double> _records = [], _seconds = [];
    private readonly Task _sampler;

    private FollowerLag(BucketFollower follower, AdapterStore leader)
    {
        _follower = follower;
        _leader = leader;
        _sampler = Task.Run(SampleAsync);
    }

    public static async Task<FollowerLag> StartAsync(ObjectStore bucket, AdapterStore leader, string dir, TimeSpan poll, CancellationToken ct)
    {
        var f = await BucketFollower.StartAsync(bucket, dir, ct: ct).ConfigureAwait(false);
        f.Run(poll);
        return new FollowerLag(f, leader);
    }

    private async Task SampleAsync()
    {
        var sw = Stopwatch.StartNew();
        while (!_stop.IsCancellationRequested)
        {
            double t = sw.Elapsed.TotalSeconds;
            ulong leaderSeq = _leader.LastSequence, applied = _follower.Store.AppliedSequence;
            _leaderAt.Add((t, leaderSeq));
            _records.Add(leaderSeq > applied ? leaderSeq - applied : 0);
            // The first sample at which the leader already held a record the follower still lacks.
            var first = _leaderAt.FindIndex(s => s.LeaderSeq > applied);
            _seconds.Add(first < 0 ? 0 : t - _leaderAt[first].T);
            try { await Task.Delay(20, _stop.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
        }
    }

    /// <summary>The samples taken while the writes ran: lag in records and in seconds.</summary>
    public async Task<(double[] Records, double[] Seconds)> StopAsync()
    {
        _stop.Cancel();
        await _sampler.ConfigureAwait(false);
        return (_records.ToArray(), _seconds.ToArray());
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested) await StopAsync().ConfigureAwait(false);
        await _follower.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }
}

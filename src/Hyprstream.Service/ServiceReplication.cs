using Hyprstream.Replication;
using Microsoft.Extensions.Logging;

namespace Hyprstream.Service;

/// <summary>Starting the service's part in the object-store tier before its store opens (`serve --object-store`).</summary>
internal static class ServiceReplication
{
    /// <summary>
    /// Takes the lease on the configured prefix for the store in the data directory (restoring it from the bucket when
    /// the directory holds none); null without <see cref="FlightServiceOptions.Leader"/>. A refusal (another live
    /// leader, a local store the bucket has moved past) fails the start with its message.
    /// </summary>
    public static ReplicationLeader? StartLeader(FlightServiceOptions options, ILogger log)
    {
        if (options.Leader is not { } lo) return null;
        var leaderOptions = lo.Log != null ? lo : lo with { Log = m => Write(log, m) };
        var storeDir = Path.Combine(Path.GetFullPath(options.DataDirectory), ServiceStore.StoreFolder);
        return ReplicationLeader.StartAsync(leaderOptions, storeDir).GetAwaiter().GetResult();
    }

    /// <summary>The leader's lines: failures (they start in capitals: SHIPPING … FAILED, LEADERSHIP LOST) as warnings, the rest as information.</summary>
    private static void Write(ILogger log, string message)
    {
        if (message.StartsWith("SHIPPING", StringComparison.Ordinal) || message.StartsWith("LEADERSHIP", StringComparison.Ordinal))
            log.LogWarning("{Message}", message);
        else log.LogInformation("{Message}", message);
    }
}

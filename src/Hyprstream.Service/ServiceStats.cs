using System.Diagnostics;

namespace Hyprstream.Service;

/// <summary>Counters for the `stats` action: weights written through DoPut, and the rate since start.</summary>
public sealed class ServiceStats
{
    private readonly Stopwatch _up = Stopwatch.StartNew();
    private long _weightsWritten;
    private long _batches;

    public void Written(long weights)
    {
        Interlocked.Add(ref _weightsWritten, weights);
        Interlocked.Increment(ref _batches);
    }

    public long WeightsWritten => Interlocked.Read(ref _weightsWritten);
    public long Batches => Interlocked.Read(ref _batches);
    public double UptimeSeconds => _up.Elapsed.TotalSeconds;
    public double UpdatesPerSecond => WeightsWritten / Math.Max(1e-9, UptimeSeconds);
}

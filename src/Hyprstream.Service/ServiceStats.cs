using System.Diagnostics;

namespace Hyprstream.Service;

/// <summary>
/// Counters for the `stats` action: weights written through DoPut, and the rate since start, for the whole service
/// and per tenant (what a tenant token's stats show).
/// </summary>
public sealed class ServiceStats
{
    private readonly Stopwatch _up;
    private readonly ServiceStats? _whole;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ServiceStats> _tenants = new(StringComparer.Ordinal);
    private long _weightsWritten;
    private long _batches;

    public ServiceStats() => _up = Stopwatch.StartNew();

    private ServiceStats(ServiceStats whole) => (_up, _whole) = (whole._up, whole);

    /// <summary>A tenant's counters (counted into the whole service's too).</summary>
    public ServiceStats For(string tenant) => _whole != null ? _whole.For(tenant) : _tenants.GetOrAdd(tenant, _ => new ServiceStats(this));

    /// <summary>Counts a DoPut batch (into the tenant's counters too, when one wrote it).</summary>
    public void Written(long weights, string? tenant = null)
    {
        if (tenant != null && _whole == null) { For(tenant).Written(weights); return; }
        Interlocked.Add(ref _weightsWritten, weights);
        Interlocked.Increment(ref _batches);
        _whole?.Written(weights);
    }

    public long WeightsWritten => Interlocked.Read(ref _weightsWritten);
    public long Batches => Interlocked.Read(ref _batches);
    public double UptimeSeconds => _up.Elapsed.TotalSeconds;
    public double UpdatesPerSecond => WeightsWritten / Math.Max(1e-9, UptimeSeconds);
}

using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Hyprstream.Runtime.Apply;

/// <summary>
/// The apply kernels' instruments (meter <see cref="MeterName"/>, one per process: backends are not tied to a store):
/// calls and time by kernel (gemm, scatter) and backend (cpu, cuda). A CUDA call's time is the host's, uploads,
/// launch and the wait for the result included. Each backend method opens one <see cref="Time"/> scope; with no
/// listener that is two timestamp reads.
/// </summary>
public static class ApplyMetrics
{
    public const string MeterName = "Hyprstream.Apply";
    public const string Gemm = "gemm", Scatter = "scatter";

    private static readonly Meter s_meter = new(MeterName, "1.0");
    private static readonly Histogram<double> s_seconds = s_meter.CreateHistogram("hyprstream.apply.duration", "s",
        "time one apply call took, by kernel (gemm: y += x·ΔWᵀ, scatter: W ± ΔW) and backend (cpu, cuda)",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5] });

    /// <summary>Times one call until disposed (the histogram's count is the number of calls).</summary>
    public static Scope Time(string kernel, string backend) => new(kernel, backend, Stopwatch.GetTimestamp());

    public readonly struct Scope(string kernel, string backend, long started) : IDisposable
    {
        public void Dispose()
        {
            if (s_seconds.Enabled)
                s_seconds.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new("kernel", kernel), new("backend", backend));
        }
    }
}

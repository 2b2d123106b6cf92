namespace Hyprstream.Bench;

/// <summary>Latency quantiles of a sample and the p50/p99 rows the store benchmarks print.</summary>
internal static class Quantiles
{
    /// <summary>The q-quantile (nearest rank) of the values.</summary>
    public static double Of(double[] values, double q)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)(sorted.Length * q))];
    }

    public static IEnumerable<StoreBenchmark.Row> Rows(string section, string metric, double[] values, string note) =>
    [
        new StoreBenchmark.Row(section, metric + " p50", Of(values, 0.5), "ms", note),
        new StoreBenchmark.Row(section, metric + " p99", Of(values, 0.99), "ms", note),
    ];
}

namespace Hyprstream.Server.Top;

/// <summary>Quantiles from a Prometheus histogram's cumulative buckets, as histogram_quantile() computes them.</summary>
internal static class Quantiles
{
    /// <summary>
    /// The q-quantile of what was observed between two readings of the same histogram (<paramref name="before"/> may be
    /// empty: since start), interpolated linearly within its bucket; null when nothing was observed. A quantile in the
    /// +Inf bucket answers the highest finite bound.
    /// </summary>
    public static double? Of(double q, SortedDictionary<double, double> now, SortedDictionary<double, double>? before = null)
    {
        double total = now.GetValueOrDefault(double.PositiveInfinity) - (before?.GetValueOrDefault(double.PositiveInfinity) ?? 0);
        if (total <= 0) return null;
        double target = q * total, lower = 0, countBelow = 0;
        foreach (var (bound, cumulative) in now)
        {
            double count = cumulative - (before?.GetValueOrDefault(bound) ?? 0);
            if (count >= target)
            {
                if (double.IsPositiveInfinity(bound)) return lower;
                return count == countBelow ? bound : lower + (bound - lower) * (target - countBelow) / (count - countBelow);
            }
            lower = bound;
            countBelow = count;
        }
        return lower;
    }
}

namespace Hyprstream.Server.Top;

/// <summary>One reading of a server's /metrics (and /readyz) at one moment, with sums over label subsets.</summary>
internal sealed class Scrape(DateTime at, List<MetricSample> samples, string readiness)
{
    public DateTime At { get; } = at;
    public IReadOnlyList<MetricSample> Samples { get; } = samples;
    /// <summary>What /readyz said ("ready: …" or "not ready: …").</summary>
    public string Readiness { get; } = readiness;

    /// <summary>The sum of a series over every label set that matches <paramref name="where"/> (none: all); 0 if absent.</summary>
    public double Sum(string name, Func<MetricSample, bool>? where = null)
    {
        double s = 0;
        foreach (var m in Samples)
            if (m.Name == name && (where == null || where(m))) s += m.Value;
        return s;
    }

    public bool Has(string name) => Samples.Any(m => m.Name == name);

    /// <summary>A histogram's cumulative buckets (upper bound → count) over the label sets that match.</summary>
    public SortedDictionary<double, double> Buckets(string histogram, Func<MetricSample, bool>? where = null)
    {
        var buckets = new SortedDictionary<double, double>();
        foreach (var m in Samples)
        {
            if (m.Name != histogram + "_bucket" || (where != null && !where(m)) || m.Label("le") is not { } le) continue;
            double bound = le == "+Inf" ? double.PositiveInfinity : double.Parse(le, System.Globalization.CultureInfo.InvariantCulture);
            buckets[bound] = buckets.GetValueOrDefault(bound) + m.Value;
        }
        return buckets;
    }
}

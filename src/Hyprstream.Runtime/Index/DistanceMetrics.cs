namespace Hyprstream.Runtime.Index;

/// <summary>The metric names users type (CLI options, Flight JSON bodies).</summary>
public static class DistanceMetrics
{
    /// <summary>l2, cosine or poincare (case-insensitive); ArgumentException for anything else.</summary>
    public static DistanceMetric Parse(string name) => name.ToLowerInvariant() switch
    {
        "l2" => DistanceMetric.L2,
        "cosine" => DistanceMetric.Cosine,
        "poincare" or "poincaré" => DistanceMetric.Poincare,
        _ => throw new ArgumentException($"unknown metric '{name}' (use l2, cosine or poincare)"),
    };

    public static string Name(this DistanceMetric metric) => metric.ToString().ToLowerInvariant();
}

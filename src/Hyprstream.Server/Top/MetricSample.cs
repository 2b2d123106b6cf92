namespace Hyprstream.Server.Top;

/// <summary>One line of a Prometheus text exposition: a series' name, its labels and its value.</summary>
internal sealed record MetricSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public string? Label(string name) => Labels.TryGetValue(name, out var v) ? v : null;
}

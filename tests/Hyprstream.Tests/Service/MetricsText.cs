using System.Globalization;
using System.Text.RegularExpressions;

namespace Hyprstream.Tests.Service;

/// <summary>A scraped Prometheus exposition, read with a regular expression (independent of the `top` command's parser).</summary>
internal sealed partial class MetricsText(string text)
{
    public string Text { get; } = text;

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>\S+)(\s+\d+)?$", RegexOptions.Multiline)]
    private static partial Regex Line();

    /// <summary>The sum of a series over the label sets whose text contains every one of <paramref name="labels"/> (e.g. method="DoGet").</summary>
    public double Sum(string name, params string[] labels)
    {
        double sum = 0;
        bool found = false;
        foreach (Match m in Line().Matches(Text))
        {
            if (m.Groups["name"].Value != name) continue;
            var l = m.Groups["labels"].Value;
            if (!labels.All(x => l.Contains(x, StringComparison.Ordinal))) continue;
            sum += double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture);
            found = true;
        }
        return found ? sum : throw new AssertionException($"no series {name} with {string.Join(",", labels)} in the exposition:\n{Text}");
    }

    public bool Has(string name) => Line().Matches(Text).Any(m => m.Groups["name"].Value == name);

    public IEnumerable<string> LabelSets => Line().Matches(Text).Select(m => m.Groups["labels"].Value);

    public static async Task<MetricsText> ScrapeAsync(Uri metricsBase)
    {
        using var http = new HttpClient();
        return new MetricsText(await http.GetStringAsync(new Uri(metricsBase, "metrics")));
    }
}

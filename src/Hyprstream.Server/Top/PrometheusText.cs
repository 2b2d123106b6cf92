using System.Globalization;

namespace Hyprstream.Server.Top;

/// <summary>
/// Reads the Prometheus text exposition format (version 0.0.4): `name{label="value",…} value [timestamp]` lines;
/// comments (# HELP, # TYPE) are skipped. A malformed line is a <see cref="FormatException"/> naming it.
/// </summary>
internal static class PrometheusText
{
    public static List<MetricSample> Parse(string text)
    {
        var samples = new List<MetricSample>();
        int lineNo = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNo++;
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line[0] == '#') continue;
            try { samples.Add(ParseLine(line)); }
            catch (Exception e) when (e is FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
            {
                throw new FormatException($"line {lineNo} of the metrics is not Prometheus text ({e.Message}): {line[..Math.Min(line.Length, 120)]}");
            }
        }
        return samples;
    }

    private static MetricSample ParseLine(string line)
    {
        int i = 0;
        while (i < line.Length && line[i] is not ('{' or ' ')) i++;
        var name = line[..i];
        if (name.Length == 0) throw new FormatException("no metric name");
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (line[i] != '}')
            {
                int eq = line.IndexOf('=', i);
                var key = line[i..eq].Trim();
                i = eq + 1;
                if (line[i] != '"') throw new FormatException($"label {key}: value not quoted");
                i++;
                var value = new System.Text.StringBuilder();
                while (line[i] != '"')
                {
                    if (line[i] == '\\')
                    {
                        i++;
                        value.Append(line[i] switch { 'n' => '\n', var c => c });
                    }
                    else value.Append(line[i]);
                    i++;
                }
                i++;
                labels[key] = value.ToString();
                if (line[i] == ',') i++;
            }
            i++;
        }
        var rest = line[i..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (rest.Length == 0) throw new FormatException("no value");
        double v = rest[0] switch
        {
            "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity,
            "NaN" => double.NaN,
            var s => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture),
        };
        return new MetricSample(name, labels, v);
    }
}

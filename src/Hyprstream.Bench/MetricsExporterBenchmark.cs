using System.Diagnostics;
using System.Diagnostics.Metrics;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Hyprstream.Bench;

/// <summary>
/// `hyprstream bench metrics`: what each Prometheus exporter costs on the hot path, measured on the service's own
/// pattern (what one Flight call records when it ends: a counter and a latency histogram with method and status
/// labels, plus an unlabelled per-batch counter). The same loop runs with no listener (the baseline: instruments
/// exist but nobody listens), with OpenTelemetry's SDK and Prometheus exporter, and with prometheus-net's
/// MeterAdapter; then one text exposition of prometheus-net's registry (OpenTelemetry's is served only over HTTP:
/// `bench flight` times real scrapes of the service).
/// </summary>
internal static class MetricsExporterBenchmark
{
    public sealed record Row(string Exporter, string Metric, double Value, string Unit);

    private static readonly string[] Methods = ["DoGet", "DoPut", "GetFlightInfo", "DoAction"];
    private static readonly string[] Statuses = ["OK", "OK", "OK", "NotFound"];

    public static List<Row> Run(int events, int threads, Action<string> progress)
    {
        var rows = new List<Row>();
        foreach (var exporter in new[] { "none (baseline)", "OpenTelemetry 1.20.1 + Prometheus exporter 1.20.1-beta.1", "prometheus-net 8.2.1 MeterAdapter" })
        {
            progress($"{exporter}: {events:N0} call ends on {threads} threads (median of 3)");
            var name = $"Hyprstream.Bench.Exporter.{rows.Count}";
            using var meter = new Meter(name);
            var calls = meter.CreateCounter<long>("hyprstream.flight.calls");
            var seconds = meter.CreateHistogram("hyprstream.flight.call.duration", "s", null,
                advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.001, 0.01, 0.1, 1, 10] });
            var batches = meter.CreateCounter<long>("hyprstream.flight.doput.batches");
            IDisposable? listener = null;
            Prometheus.CollectorRegistry? registry = null;
            if (exporter.StartsWith("OpenTelemetry", StringComparison.Ordinal))
                listener = Sdk.CreateMeterProviderBuilder().AddMeter(name).AddPrometheusExporter().Build();
            else if (exporter.StartsWith("prometheus-net", StringComparison.Ordinal))
            {
                registry = Prometheus.Metrics.NewCustomRegistry();
                listener = Prometheus.MeterAdapter.StartListening(new Prometheus.MeterAdapterOptions { Registry = registry, InstrumentFilterPredicate = i => i.Meter.Name == name });
            }
            using (listener)
            {
                var times = new List<double>();
                for (int run = 0; run < 3; run++)
                {
                    var sw = Stopwatch.StartNew();
                    Parallel.For(0, threads, t =>
                    {
                        for (int i = t; i < events; i += threads)
                        {
                            var tags = new TagList { { "method", Methods[i & 3] }, { "status", Statuses[i & 3] } };
                            calls.Add(1, tags);
                            seconds.Record(0.0005 + (i & 1023) * 1e-5, tags);
                            batches.Add(1);
                        }
                    });
                    times.Add(sw.Elapsed.TotalSeconds);
                }
                times.Sort();
                rows.Add(new Row(exporter, "one call end (counter + histogram, 2 labels; + 1 counter)", times[1] / events * 1e9 * threads, "ns per event per thread"));
                if (registry != null)
                {
                    var sw = Stopwatch.StartNew();
                    registry.CollectAndExportAsTextAsync(Stream.Null).GetAwaiter().GetResult();
                    rows.Add(new Row(exporter, "one text exposition of these instruments", sw.Elapsed.TotalMilliseconds, "ms"));
                }
            }
        }
        return rows;
    }
}

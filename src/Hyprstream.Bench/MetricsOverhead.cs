using System.Diagnostics;
using Google.Protobuf;
using Hyprstream.Flight.Protocol;
using Hyprstream.Flight.Rpc;

namespace Hyprstream.Bench;

/// <summary>
/// The cost of metrics on Flight throughput, for `bench flight`: two services over copies of the same data directory
/// run in this process, one without metrics (no instrument exists) and one with them on and scraped once a second as
/// Prometheus would. Each transfer runs on both in alternating order (off/on, then on/off, …), one warm-up round and
/// then <see cref="Rounds"/> measured rounds; the medians are compared. Target: metrics on at most 3% slower.
/// </summary>
internal static class MetricsOverhead
{
    public const int Rounds = 6;

    public static async Task<List<FlightBenchmark.Row>> RunAsync(FlightTargetFactory start, string benchVdb, string workDir, int batchRows, long weights,
        Func<FlightClient, Ticket, Task<double>> doGet, Func<FlightClient, string, Task<double>> doPut, Action<string> progress)
    {
        var rows = new List<FlightBenchmark.Row>();
        var targets = new List<FlightTarget>();
        try
        {
            foreach (var metrics in new[] { false, true })
            {
                var dir = Path.Combine(workDir, metrics ? "metrics-on" : "metrics-off");
                Directory.CreateDirectory(dir);
                File.Copy(benchVdb, Path.Combine(dir, "bench.vdb"), overwrite: true);
                targets.Add(await start(dir, batchRows, null, metrics));
            }
            var metricsUri = targets[1].Metrics ?? throw new InvalidOperationException("the service started with metrics serves no /metrics");
            using var off = new FlightClient(targets[0].Address);
            using var on = new FlightClient(targets[1].Address);
            using var stop = new CancellationTokenSource();
            var scrapes = new List<double>();
            var scraper = Task.Run(async () =>
            {
                using var http = new HttpClient();
                while (!stop.IsCancellationRequested)
                {
                    var sw = Stopwatch.StartNew();
                    var text = await http.GetStringAsync(new Uri(metricsUri, "metrics"));
                    lock (scrapes) scrapes.Add(sw.Elapsed.TotalMilliseconds);
                    if (!text.Contains("hyprstream_flight_calls_total", StringComparison.Ordinal) && scrapes.Count > 3)
                        throw new InvalidOperationException("the scraped metrics hold no Flight calls");
                    try { await Task.Delay(1000, stop.Token); } catch (OperationCanceledException) { }
                }
            });

            var gets = new (string Metric, string Ticket)[]
            {
                ("row DoGet", "{\"adapter\":\"bench\",\"form\":\"rows\"}"),
                ("tile DoGet float32", "{\"adapter\":\"bench\",\"form\":\"tiles\"}"),
            };
            foreach (var (metric, json) in gets)
            {
                progress($"metrics on vs off: {metric} ({Rounds} rounds after a warm-up, alternating order)");
                var ticket = new Ticket { Ticket_ = ByteString.CopyFromUtf8(json) };
                var (a, b) = await Alternate(() => doGet(off, ticket), () => doGet(on, ticket));
                Add(rows, metric, weights, a, b);
            }
            progress($"metrics on vs off: tile DoPut durable ({Rounds} rounds after a warm-up, alternating order)");
            int round = 0;
            var (po, pn) = await Alternate(() => doPut(off, $"bench-metrics-{round++}"), () => doPut(on, $"bench-metrics-{round++}"));
            Add(rows, "tile DoPut (set), durable", weights, po, pn);

            stop.Cancel();
            await scraper;
            lock (scrapes)
                if (scrapes.Count > 0)
                    rows.Add(new FlightBenchmark.Row("metrics on", $"GET /metrics during the runs ({scrapes.Count} scrapes, median)", Median(scrapes), "ms", null));
        }
        finally
        {
            foreach (var t in targets) await t.Server.DisposeAsync();
        }
        return rows;
    }

    /// <summary>Runs both sides Rounds + 1 times in alternating order; the medians of the measured rounds (seconds).</summary>
    private static async Task<(double Off, double On)> Alternate(Func<Task<double>> off, Func<Task<double>> on)
    {
        var offs = new List<double>();
        var ons = new List<double>();
        for (int i = 0; i <= Rounds; i++)
        {
            double a, b;
            if (i % 2 == 0) { a = await off(); b = await on(); }
            else { b = await on(); a = await off(); }
            if (i == 0) continue;   // warm-up
            offs.Add(a);
            ons.Add(b);
        }
        return (Median(offs), Median(ons));
    }

    private static void Add(List<FlightBenchmark.Row> rows, string metric, long weights, double off, double on)
    {
        rows.Add(new FlightBenchmark.Row("metrics off", metric, weights / off, "weights/s", null));
        rows.Add(new FlightBenchmark.Row("metrics on, scraped 1/s", metric, weights / on, "weights/s", null));
        rows.Add(new FlightBenchmark.Row("metrics on vs off", metric, (on / off - 1) * 100, "% slower", "<= 3"));
    }

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }
}

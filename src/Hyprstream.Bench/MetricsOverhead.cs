using System.Diagnostics;
using Google.Protobuf;
using Hyprstream.Flight.Protocol;
using Hyprstream.Flight.Rpc;

namespace Hyprstream.Bench;

/// <summary>
/// The cost of metrics on Flight throughput, for `bench flight`: three services over copies of the same data directory
/// run in this process, two without metrics (no instrument exists) and one with them on and scraped once a second as
/// Prometheus would. Each transfer runs on all three in rotating order, <see cref="WarmUpRounds"/> warm-up rounds and then
/// <see cref="Rounds"/> measured rounds; the medians are compared. The two metrics-off services measure the noise of
/// the comparison itself on this machine (an A/A test). Target: metrics on at most 3% slower.
/// </summary>
internal static class MetricsOverhead
{
    public const int Rounds = 6;
    /// <summary>
    /// Unmeasured rounds first: each service's per-call and per-batch code (the metrics-on service's instruments among
    /// it) must be past the tiered JIT's first tiers, or the comparison measures compilation (one round left the
    /// metrics-on tile DoGet 11–28% behind in three runs, with the A/A pair within ±9%).
    /// </summary>
    public const int WarmUpRounds = 4;

    public static async Task<List<FlightBenchmark.Row>> RunAsync(FlightTargetFactory start, string benchVdb, string workDir, int batchRows, long weights,
        Func<FlightClient, Ticket, Task<double>> doGet, Func<FlightClient, string, Task<double>> doPut, Action<string> progress)
    {
        var rows = new List<FlightBenchmark.Row>();
        var targets = new List<FlightTarget>();
        try
        {
            foreach (var (name, metrics) in new[] { ("metrics-off", false), ("metrics-on", true), ("metrics-off-2", false) })
            {
                var dir = Path.Combine(workDir, name);
                Directory.CreateDirectory(dir);
                File.Copy(benchVdb, Path.Combine(dir, "bench.vdb"), overwrite: true);
                targets.Add(await start(dir, batchRows, null, metrics));
            }
            var metricsUri = targets[1].Metrics ?? throw new InvalidOperationException("the service started with metrics serves no /metrics");
            var clients = targets.Select(t => new FlightClient(t.Address)).ToList();
            using var disposeClients = new Disposables(clients);
            using var stop = new CancellationTokenSource();
            var scrapes = new List<double>();
            string last = "";
            using var http = new HttpClient();
            var scraper = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var sw = Stopwatch.StartNew();
                    last = await http.GetStringAsync(new Uri(metricsUri, "metrics"));
                    lock (scrapes) scrapes.Add(sw.Elapsed.TotalMilliseconds);
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
                progress($"metrics on vs off: {metric} ({Rounds} rounds after {WarmUpRounds} warm-up rounds, rotating order)");
                var ticket = new Ticket { Ticket_ = ByteString.CopyFromUtf8(json) };
                Add(rows, metric, weights, await Rotate(clients.Select(c => (Func<Task<double>>)(() => doGet(c, ticket))).ToList()));
            }
            progress($"metrics on vs off: tile DoPut durable ({Rounds} rounds after {WarmUpRounds} warm-up rounds, rotating order)");
            int round = 0;
            Add(rows, "tile DoPut (set), durable", weights, await Rotate(clients.Select(c => (Func<Task<double>>)(async () =>
            {
                var name = $"bench-metrics-{round++}";
                double t = await doPut(c, name);
                // Outside the timing: fold the WAL now, so no background checkpoint runs into the next measurement.
                await c.DoActionAsync("delete", System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new { adapter = name }));
                await c.DoActionAsync("checkpoint");
                return t;
            })).ToList()));

            stop.Cancel();
            await scraper;
            // The metrics service really counted the work (one more scrape, after every transfer).
            last = await http.GetStringAsync(new Uri(metricsUri, "metrics"));
            if (!last.Contains("hyprstream_flight_doput_weights_total", StringComparison.Ordinal))
                throw new InvalidOperationException("the metrics service's /metrics holds no DoPut weights after the runs");
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

    /// <summary>
    /// Runs every side Rounds + 1 times, each round starting with the next side (so no side always runs first or
    /// after the same one); the medians of the measured rounds (seconds), in the order given.
    /// </summary>
    private static async Task<double[]> Rotate(List<Func<Task<double>>> sides)
    {
        var times = sides.Select(_ => new List<double>()).ToList();
        for (int round = 1 - WarmUpRounds; round <= Rounds; round++)
            for (int k = 0; k < sides.Count; k++)
            {
                int side = ((round + k) % sides.Count + sides.Count) % sides.Count;
                GC.Collect();   // outside the timing: no side pays for another's garbage
                double t = await sides[side]();
                if (round > 0) times[side].Add(t);   // rounds up to 0 warm up
            }
        return times.Select(Median).ToArray();
    }

    /// <summary>Rows for one transfer: off, on, the overhead, and the A/A difference between the two metrics-off services.</summary>
    private static void Add(List<FlightBenchmark.Row> rows, string metric, long weights, double[] t)
    {
        double off = Median([t[0], t[2]]);
        rows.Add(new FlightBenchmark.Row("metrics off (2 services)", metric, weights / off, "weights/s", null));
        rows.Add(new FlightBenchmark.Row("metrics on, scraped 1/s", metric, weights / t[1], "weights/s", null));
        rows.Add(new FlightBenchmark.Row("metrics on vs off", metric, (t[1] / off - 1) * 100, "% slower", "<= 3"));
        rows.Add(new FlightBenchmark.Row("off vs off (noise, A/A)", metric, (t[2] / t[0] - 1) * 100, "% slower", null));
    }

    private sealed class Disposables(IEnumerable<IDisposable> items) : IDisposable
    {
        public void Dispose() { foreach (var i in items) i.Dispose(); }
    }

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }
}

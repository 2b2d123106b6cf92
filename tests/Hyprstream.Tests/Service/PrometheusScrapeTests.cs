using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Hyprstream.Flight.Rpc;
using static Hyprstream.Tests.Service.FlightPutTests;
using static Hyprstream.Tests.Service.FlightServiceTests;

namespace Hyprstream.Tests.Service;

/// <summary>
/// A real Prometheus (Debian's package, started here on loopback, stopped by PID) scrapes a real `hyprstream serve
/// --metrics` while our client runs DoPut and DoGet; Prometheus's HTTP API must report what was done. `promtool check
/// metrics` lints the exposition. Without the package the tests skip with the reason (./build.sh test installs it).
/// </summary>
[TestFixture]
public sealed class PrometheusScrapeTests
{
    private const string Q = "model.layers.0.self_attn.q_proj";

    private static string Tool(string name) =>
        new[] { "/usr/bin", "/usr/local/bin" }.Select(d => System.IO.Path.Combine(d, name)).FirstOrDefault(File.Exists)
        ?? throw new IgnoreException($"{name} is not installed (apt-get install prometheus; ./build.sh test installs it)");

    [Test]
    public async Task Prometheus_ScrapesServeUnderLoad_CountersMatchTheWorkDone()
    {
        var prometheusBin = Tool("prometheus");
        using var dir = new TempDir();
        var (server, line) = await ServeProcess.StartAsync(dir.Path, "--metrics", "127.0.0.1:0");
        using var serverProcess = server;
        Process? prometheus = null;
        try
        {
            var metricsLine = await server.StandardOutput.ReadLineAsync() ?? "";
            Assert.That(metricsLine, Does.StartWith("metrics at http://127.0.0.1:"));
            var metrics = new Uri(metricsLine["metrics at ".Length..]);
            using var client = new FlightClient(new Uri("http://" + ServeProcess.Authority(line)));

            // Load: 20 DoPut calls of 3 batches each (250 weights a batch), and 10 DoGet calls of the whole adapter.
            const int puts = 20, batchesPerPut = 3, perBatch = 250, gets = 10;
            var rng = new Random(7);
            await client.DoPutAsync(Cmd(CreateCmd("load")), RowSchema, [(Batch((Q, 0, 0, 1f)), null)]);
            long weights = 1;
            for (int p = 0; p < puts; p++)
            {
                var batches = Enumerable.Range(0, batchesPerPut).Select(_ =>
                    (Batch(Enumerable.Range(0, perBatch).Select(i => (Q, rng.Next(64), rng.Next(128), (float)rng.NextDouble() + 0.1f)).ToArray()), (byte[]?)null)).ToList();
                await client.DoPutAsync(Path("adapters", "load"), RowSchema, batches);
                weights += batchesPerPut * perBatch;
            }
            var info = await client.GetFlightInfoAsync(Path("adapters", "load"));
            long stored = 0;
            for (int g = 0; g < gets; g++) stored = (await ReadAll(client, info.Endpoint[0].Ticket)).Count;

            int port = FreePort();
            var config = System.IO.Path.Combine(dir.Path, "prometheus.yml");
            File.WriteAllText(config, $"global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: hyprstream\n    static_configs:\n      - targets: ['{metrics.Authority}']\n");
            prometheus = Process.Start(new ProcessStartInfo(prometheusBin, [$"--config.file={config}", $"--storage.tsdb.path={System.IO.Path.Combine(dir.Path, "tsdb")}",
                $"--web.listen-address=127.0.0.1:{port}"]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            _ = prometheus.StandardError.ReadToEndAsync();
            _ = prometheus.StandardOutput.ReadToEndAsync();
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(5) };

            // What Prometheus scraped, once it has (start-up and the first scrape take ~5 s here; 90 s at most).
            Assert.That(await QueryWhen(http, "hyprstream_flight_doput_weights_total", v => v == weights), Is.EqualTo(weights), "weights written = weights sent");
            await Assert.MultipleAsync(async () =>
            {
                Assert.That(await Query(http, "hyprstream_flight_doput_batches_total"), Is.EqualTo(puts * batchesPerPut + 1));
                Assert.That(await Query(http, "sum(hyprstream_flight_calls_total{method=\"DoPut\",status=\"OK\"})"), Is.EqualTo(puts + 1));
                Assert.That(await Query(http, "sum(hyprstream_flight_calls_total{method=\"DoGet\",status=\"OK\"})"), Is.EqualTo(gets));
                Assert.That(await Query(http, "hyprstream_flight_doget_weights_total"), Is.EqualTo(gets * stored));
                Assert.That(await Query(http, "sum(hyprstream_flight_call_duration_seconds_count{method=\"DoGet\"})"), Is.EqualTo(gets));
                Assert.That(await Query(http, "hyprstream_wal_appends_total"), Is.GreaterThanOrEqualTo(puts * batchesPerPut + 2));
                Assert.That(await Query(http, "hyprstream_store_adapters"), Is.EqualTo(1));
                Assert.That(await Query(http, "up{job=\"hyprstream\"}"), Is.EqualTo(1));
            });
        }
        finally
        {
            if (prometheus is { HasExited: false }) { prometheus.Kill(); prometheus.WaitForExit(10_000); }
            prometheus?.Dispose();
            if (!server.HasExited) server.Kill(entireProcessTree: true);
            server.WaitForExit(30_000);
        }
    }

    [Test]
    public async Task Promtool_CheckMetrics_PassesOnTheExposition()
    {
        var promtool = Tool("promtool");
        await using var s = await FlightServer.StartAsync(metrics: true);
        await s.Client.DoPutAsync(Cmd(CreateCmd("a")), RowSchema, [(Batch((Q, 1, 2, 0.5f)), null)]);
        Assert.ThrowsAsync<Grpc.Core.RpcException>(() => s.Client.GetFlightInfoAsync(Path("adapters", "missing")));
        await s.Client.DoActionAsync("checkpoint");
        var text = (await MetricsText.ScrapeAsync(s.Host.Metrics!.Address)).Text;
        using var p = Process.Start(new ProcessStartInfo(promtool, ["check", "metrics"]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true })!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.StandardInput.WriteAsync(text);
        p.StandardInput.Close();
        Assert.That(p.WaitForExit(60_000), Is.True);
        Assert.That(p.ExitCode, Is.Zero, $"promtool check metrics: {await stdout}{await stderr}");
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static async Task<double?> TryQuery(HttpClient http, string query)
    {
        try
        {
            using var doc = JsonDocument.Parse(await http.GetStringAsync("api/v1/query?query=" + Uri.EscapeDataString(query)));
            var result = doc.RootElement.GetProperty("data").GetProperty("result");
            if (result.GetArrayLength() == 0) return null;
            return double.Parse(result[0].GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture);
        }
        catch (HttpRequestException) { return null; }   // Prometheus still starting
        catch (TaskCanceledException) { return null; }
    }

    private static async Task<double> Query(HttpClient http, string query) =>
        await TryQuery(http, query) ?? throw new AssertionException($"Prometheus has no value for {query}");

    private static async Task<double?> QueryWhen(HttpClient http, string query, Func<double, bool> done)
    {
        double? last = null;
        for (var until = DateTime.UtcNow.AddSeconds(90); DateTime.UtcNow < until; await Task.Delay(500))
            if ((last = await TryQuery(http, query)) is { } v && done(v)) return v;
        return last;
    }
}

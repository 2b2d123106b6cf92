using System.CommandLine;
using Hyprstream.Server.Top;
using Spectre.Console;

namespace Hyprstream.Server.Commands;

/// <summary>
/// `hyprstream top`: a live dashboard of one server, read from its metrics endpoint (`serve --metrics`) every second:
/// Flight calls per second, MB/s and latency by method, the store and its cache tiers against their budgets, the WAL
/// and checkpoints, recovery, the process. On a terminal it redraws in place until `q` (or Ctrl+C); otherwise it
/// prints plain text, one dashboard per reading. Why /metrics and not the `stats` action: docs/observability.md.
/// </summary>
internal static class TopCommand
{
    public static Command Create()
    {
        var metrics = new Option<string>("--metrics") { Description = "the server's metrics address (serve --metrics), host:port or a URL", DefaultValueFactory = _ => "127.0.0.1:9464" };
        var interval = new Option<double>("--interval") { Description = "seconds between readings", DefaultValueFactory = _ => 1.0 };
        var count = new Option<int>("--count") { Description = "dashboards to show before exiting (0: until q or Ctrl+C); the first reading only primes the rates", DefaultValueFactory = _ => 0 };
        var cmd = new Command("top", "Live dashboard of a running server: calls, latency, store, cache tiers, WAL (reads its /metrics)") { metrics, interval, count };
        cmd.SetAction(async (r, ct) =>
        {
            var baseUri = MetricsUri(r.GetValue(metrics)!);
            double seconds = r.GetValue(interval);
            if (!(seconds >= 0.1 && seconds <= 3600)) throw new ArgumentException($"--interval {seconds}: must be between 0.1 and 3600 seconds");
            int shows = r.GetValue(count);
            if (shows < 0) throw new ArgumentException($"--count {shows}: must be 0 (until q) or more");
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
            bool terminal = !Console.IsOutputRedirected;
            return terminal ? await LiveAsync(http, baseUri, seconds, shows, stop) : await PlainAsync(http, baseUri, seconds, shows, stop.Token);
        });
        return cmd;
    }

    internal static Uri MetricsUri(string s)
    {
        var text = s.Contains("://", StringComparison.Ordinal) ? s : "http://" + s;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https") || u.Port <= 0)
            throw new ArgumentException($"--metrics '{s}' is not host:port or an http URL (e.g. 127.0.0.1:9464)");
        return new Uri(u.GetLeftPart(UriPartial.Authority) + "/");
    }

    private static async Task<Scrape> ReadAsync(HttpClient http, Uri baseUri, CancellationToken ct)
    {
        string text;
        try { text = await http.GetStringAsync(new Uri(baseUri, "metrics"), ct); }
        catch (HttpRequestException e)
        {
            throw new IOException($"cannot read {baseUri}metrics ({e.Message}); is `hyprstream serve --metrics {baseUri.Authority}` running?", e);
        }
        string ready;
        try
        {
            using var resp = await http.GetAsync(new Uri(baseUri, "readyz"), ct);
            ready = (await resp.Content.ReadAsStringAsync(ct)).Trim();
        }
        catch (HttpRequestException e) { ready = $"readiness unknown ({e.Message})"; }
        return new Scrape(DateTime.UtcNow, PrometheusText.Parse(text), ready);
    }

    private static string Title(Uri baseUri, bool live) =>
        $"hyprstream top — {baseUri}metrics — {DateTime.Now:HH:mm:ss}" + (live ? " — q quits" : "");

    private static async Task<int> PlainAsync(HttpClient http, Uri baseUri, double seconds, int shows, CancellationToken ct)
    {
        Scrape? before = null;
        for (int shown = 0; shows == 0 || shown < shows;)
        {
            var now = await ReadAsync(http, baseUri, ct);
            if (before != null)
            {
                Console.WriteLine(DashboardView.Plain(Title(baseUri, false), Dashboard.Build(now, before)));
                Console.Out.Flush();
                shown++;
            }
            before = now;
            if (shows != 0 && shown >= shows) break;
            try { await Task.Delay(TimeSpan.FromSeconds(seconds), ct); } catch (OperationCanceledException) { break; }
        }
        return 0;
    }

    private static async Task<int> LiveAsync(HttpClient http, Uri baseUri, double seconds, int shows, CancellationTokenSource stop)
    {
        // The first reading is taken before the screen is taken over, so an unreachable server is a plain error.
        Scrape before = await ReadAsync(http, baseUri, stop.Token);
        bool keys = !Console.IsInputRedirected;
        await AnsiConsole.Live(DashboardView.Render(Title(baseUri, keys), Dashboard.Build(before, null))).AutoClear(false).StartAsync(async ctx =>
        {
            for (int shown = 0; !stop.IsCancellationRequested && (shows == 0 || shown < shows); shown++)
            {
                var until = DateTime.UtcNow.AddSeconds(seconds);
                while (DateTime.UtcNow < until && !stop.IsCancellationRequested)
                {
                    if (keys && Console.KeyAvailable && Console.ReadKey(intercept: true).KeyChar is 'q' or 'Q') { stop.Cancel(); return; }
                    try { await Task.Delay(50, stop.Token); } catch (OperationCanceledException) { return; }
                }
                string? error = null;
                Scrape? now = null;
                try { now = await ReadAsync(http, baseUri, stop.Token); }
                catch (IOException e) { error = e.Message; }
                catch (OperationCanceledException) { return; }
                if (now == null)
                {
                    ctx.UpdateTarget(new Markup($"[red]{Markup.Escape(error!)}[/] (retrying every {seconds:0.#} s; q quits)"));
                    continue;
                }
                ctx.UpdateTarget(DashboardView.Render(Title(baseUri, keys), Dashboard.Build(now, before)));
                before = now;
            }
        });
        return 0;
    }
}

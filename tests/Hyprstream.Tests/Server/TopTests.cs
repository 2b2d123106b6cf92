using System.Diagnostics;
using Hyprstream.Tests.Service;
using static Hyprstream.Tests.Service.FlightPutTests;
using static Hyprstream.Tests.Service.FlightServiceTests;

namespace Hyprstream.Tests.Server;

/// <summary>
/// `hyprstream top` against a real server under load: live under tmux (a real terminal: send-keys, capture-pane,
/// `q` quits), as plain text when its output is not a terminal, and a clear error when the server is not there.
/// </summary>
[TestFixture]
public sealed class TopTests
{
    private const string Q = "model.layers.0.self_attn.q_proj";

    /// <summary>A server with metrics holding one adapter of 1,234 weights (a number the dashboard must show).</summary>
    private static async Task<FlightServer> LoadedServerAsync()
    {
        var s = await FlightServer.StartAsync(metrics: true);
        var weights = Enumerable.Range(0, 1234).Select(i => (Q, i / 128 % 64, i % 128, 0.5f + i)).ToArray();
        await s.Client.DoPutAsync(Cmd(CreateCmd("load")), RowSchema, [(Batch(weights), null)]);
        await s.Client.DoActionAsync("stats");
        return s;
    }

    private static string Tmux() => File.Exists("/usr/bin/tmux") ? "/usr/bin/tmux"
        : throw new IgnoreException("tmux is not installed (apt-get install tmux; ./build.sh test installs it)");

    private static async Task<(int Code, string Out)> Run(string tmux, params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(tmux, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, await o + await e);
    }

    [Test]
    public async Task Top_UnderTmux_ShowsTheServersNumbers_AndQuitsOnQ()
    {
        var tmux = Tmux();
        await using var s = await LoadedServerAsync();
        var socket = $"hs-top-{Environment.ProcessId}";
        var dll = System.IO.Path.Combine(TestContext.CurrentContext.TestDirectory, "hyprstream.dll");
        using var stopLoad = new CancellationTokenSource();
        var info = await s.Client.GetFlightInfoAsync(Path("adapters", "load"));
        var load = Task.Run(async () =>
        {
            while (!stopLoad.IsCancellationRequested) { await ReadAll(s.Client, info.Endpoint[0].Ticket); await Task.Delay(20); }
        });
        try
        {
            var (code, output) = await Run(tmux, "-L", socket, "new-session", "-d", "-s", "top", "-x", "170", "-y", "80",
                $"dotnet {dll} top --metrics {s.Host.Metrics!.Address.Authority}");
            Assert.That(code, Is.Zero, output);
            string pane = "";
            for (var until = DateTime.UtcNow.AddSeconds(60); DateTime.UtcNow < until; await Task.Delay(500))
            {
                pane = (await Run(tmux, "-L", socket, "capture-pane", "-p", "-t", "top")).Out;
                // Rates need two readings: wait until the DoGet row shows a rate (digits, not the "…" of the first reading).
                if (pane.Contains("1,234") && System.Text.RegularExpressions.Regex.IsMatch(pane, @"DoGet\s*│\s*\d")) break;
            }
            Assert.That(pane, Does.Contain("Flight calls").And.Contain("DoPut").And.Contain("WAL and checkpoints").And.Contain("q quits"));
            Assert.That(pane, Does.Contain("1,234"), "the store's active weights, as the server reports them");
            Assert.That(pane, Does.Match(@"DoGet\s*│\s*\d"), "DoGet calls per second under load");
            Assert.That(pane, Does.Contain("ready: serving 1 adapters"));

            await Run(tmux, "-L", socket, "send-keys", "-t", "top", "q");
            bool gone = false;
            for (var until = DateTime.UtcNow.AddSeconds(15); !gone && DateTime.UtcNow < until; await Task.Delay(200))
                gone = (await Run(tmux, "-L", socket, "has-session", "-t", "top")).Code != 0;
            Assert.That(gone, Is.True, "top did not quit on q");
        }
        finally
        {
            stopLoad.Cancel();
            try { await load; } catch (Exception) { }
            await Run(tmux, "-L", socket, "kill-server");
        }
    }

    [Test]
    public async Task Top_WhenNotATerminal_PrintsPlainText()
    {
        await using var s = await LoadedServerAsync();
        var (code, stdout, stderr) = await ServeProcess.RunAsync(["top", "--metrics", s.Host.Metrics!.Address.Authority, "--count", "1", "--interval", "0.2"]);
        Assert.That(code, Is.Zero, stderr);
        Assert.That(stdout, Does.Contain("[Flight calls]").And.Contain("[Cache]").And.Contain("1,234"));
        // (ordinal: a culture-aware Contains ignores the escape character)
        Assert.That(stdout.Contains('\u001b', StringComparison.Ordinal), Is.False, "no terminal escapes when the output is not a terminal");
    }

    [Test]
    public async Task Top_NoServerThere_OrABadAddress_IsAClearError()
    {
        var (code, _, stderr) = await ServeProcess.RunAsync(["top", "--metrics", "127.0.0.1:1", "--count", "1"]);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain("cannot read http://127.0.0.1:1/metrics"));
        (code, _, stderr) = await ServeProcess.RunAsync(["top", "--metrics", "not a host", "--count", "1"]);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain("--metrics 'not a host' is not host:port"));
        (code, _, stderr) = await ServeProcess.RunAsync(["top", "--interval", "0"]);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain("--interval 0: must be between"));
    }
}

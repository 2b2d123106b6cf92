using System.Diagnostics;
using Hyprstream.Flight.Rpc;
using Hyprstream.Runtime.Store;
using Hyprstream.Service;
using Hyprstream.Tests.Service;
using static Hyprstream.Tests.Service.FlightServiceTests;

using static Hyprstream.Tests.Service.FlightPutTests;
namespace Hyprstream.Tests.Hardening;

/// <summary>SIGTERM ends `hyprstream serve` whatever is running, and what was acknowledged survives.</summary>
[TestFixture]
public sealed class SigtermTests
{
    private const string Module = "model.layers.0.mlp.down_proj";

    [Test]
    [CancelAfter(120_000)]
    public async Task Sigterm_WhileAHugeSparseModuleIsWrittenAndRead_EndsTheServer_AndKeepsItsWeights()
    {
        using var dir = new TempDir();
        var (server, line) = await ServeProcess.StartAsync(dir.Path);
        var stderr = server.StandardError.ReadToEndAsync();
        using var client = new FlightClient(new Uri("http://" + ServeProcess.Authority(line)));
        // The attacker's module: 1,048,576 x 33,554,432 declared, one weight stored.
        var cmd = Cmd(new { adapter = "huge", create = true, modules = new[] { new { name = Module, rows = 1 << 20, cols = 1 << 25 } } });
        await client.DoPutAsync(cmd, RowSchema, [(FlightPutTests.Batch((Module, 1_000_000, 33_000_000, 0.25f)), null)]);
        // Readers and a writer keep the server busy while it is told to stop.
        using var busy = new CancellationTokenSource();
        var answered = new int[3];
        var load = Enumerable.Range(0, 3).Select(i => Task.Run(async () =>
        {
            int n = 0;
            while (!busy.IsCancellationRequested)
            {
                try
                {
                    if (i == 0) await client.DoPutAsync(Cmd(new { adapter = "huge" }), RowSchema, [(FlightPutTests.Batch((Module, n % 1000, n % 1000, 1f)), null)]);
                    else if (i == 1) await FlightActionAuthTests.Act(client, "stats");
                    else await client.ListFlightsAsync();
                    n++;
                    Interlocked.Increment(ref answered[i]);
                }
                catch (Exception) { if (server.HasExited) return n; }
            }
            return n;
        })).ToArray();
        // Counted events, not a time budget: SIGTERM comes once every kind of load (writes, actions, listings) has been
        // answered at least 3 times, so the server is busy with all of them. The limit only guards against a hang.
        var guard = Stopwatch.StartNew();
        while (answered.Any(a => a < 3))
        {
            if (guard.Elapsed > TimeSpan.FromSeconds(60) || server.HasExited)
            {
                busy.Cancel();
                if (!server.HasExited) server.Kill(entireProcessTree: true);
                Assert.Fail($"the load never got going (hang guard): answered {string.Join(", ", answered)}; exited: {server.HasExited}");
            }
            await Task.Delay(10);
        }
        Process.Start("kill", ["-TERM", server.Id.ToString()])!.WaitForExit();
        bool exited = server.WaitForExit(20_000);
        if (!exited) server.Kill(entireProcessTree: true);
        busy.Cancel();
        var done = await Task.WhenAll(load);
        Assert.That(exited, Is.True, "serve did not end within 20 s of SIGTERM: " + (exited ? "" : await stderr));
        Assert.That(done, Is.All.GreaterThanOrEqualTo(3), "the server answered every kind of request before it was stopped");
        Assert.That(await stderr, Does.Contain("stopping"));

        using var store = AdapterStore.Open(System.IO.Path.Combine(dir.Path, ServiceStore.StoreFolder));
        Assert.That(store.Recovery.QuarantinedAdapters, Is.EqualTo(0));
        Assert.That(store.Read("huge", a => a.Modules[Module].Get(1_000_000, 33_000_000)), Is.EqualTo(0.25f));
        server.Dispose();
    }
}

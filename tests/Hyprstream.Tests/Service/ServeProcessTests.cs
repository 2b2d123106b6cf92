using System.Diagnostics;
using System.Text.Json;
using Hyprstream.Flight.Rpc;
using Hyprstream.Runtime;
using static Hyprstream.Tests.Service.FlightServiceTests;

namespace Hyprstream.Tests.Service;

/// <summary>`hyprstream serve` as users run it: a separate process, our client and the Node client against it.</summary>
[TestFixture]
public sealed class ServeProcessTests
{
    [Test]
    public async Task HyprstreamServe_ServesDroppedVdb_ToOurClientAndTheNodeClient()
    {
        using var dir = new TempDir();
        Dictionary<(string, int, int), float> expected;
        using (var a = Fixtures.Small("small", count: 300))
        {
            a.Save(dir.File("small.vdb"));
            expected = Fixtures.Snapshot(a);
        }
        var (server, line) = await ServeProcess.StartAsync(dir.Path, "--token", "tok");
        using var _ = server;
        try
        {
            Assert.That(line, Does.Contain("serving 1 adapters").And.Contain("bearer token required"));
            var authority = ServeProcess.Authority(line);

            using (var client = new FlightClient(new Uri("http://" + authority)))
            {
                await client.HandshakeAsync("tok");
                var info = await client.GetFlightInfoAsync(Path("adapters", "small"));
                Assert.That(await ReadAll(client, info.Endpoint[0].Ticket), Is.EquivalentTo(expected));
            }

            var root = NodeInteropTests.RepoRoot();
            var node = Process.Start(new ProcessStartInfo("node", [System.IO.Path.Combine(root, "tests", "interop", "flight_client.mjs"), authority, "tok",
                System.IO.Path.Combine(root, "src", "Hyprstream.Flight", "Protos", "Flight.proto")]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            var stdout = node.StandardOutput.ReadToEndAsync();
            Assert.That(node.WaitForExit(120_000), Is.True, "the node client did not finish");
            using var report = JsonDocument.Parse(await stdout);
            var r = report.RootElement;
            Assert.That(r.TryGetProperty("error", out var err) ? err.GetString() : null, Is.Null);
            Assert.That(r.GetProperty("rows").GetArrayLength(), Is.EqualTo(expected.Count));
            Assert.That(r.GetProperty("put").GetArrayLength(), Is.EqualTo(1));
        }
        finally
        {
            if (!server.HasExited) server.Kill(entireProcessTree: true);
            server.WaitForExit(30_000); // hang guard only
        }
        // The server was killed (SIGKILL): its store recovers on open and holds the acknowledged DoPut.
        using var store = Hyprstream.Runtime.Store.AdapterStore.Open(System.IO.Path.Combine(dir.Path, Hyprstream.Service.ServiceStore.StoreFolder));
        using var fromNode = store.Get("from-node");
        Assert.That(fromNode.ActiveCount, Is.EqualTo(3));
    }

    [Test]
    public async Task HyprstreamServe_StopsCleanlyOnSigterm()
    {
        using var dir = new TempDir();
        var (server, line) = await ServeProcess.StartAsync(dir.Path);
        using var _ = server;
        try
        {
            Assert.That(line, Does.Contain("serving 0 adapters"));
            var stderr = server.StandardError.ReadToEndAsync();
            using (var kill = Process.Start("kill", ["-TERM", server.Id.ToString()])!) kill.WaitForExit();
            Assert.That(server.WaitForExit(30_000), Is.True, "serve ignored SIGTERM (30 s hang guard)");
            Assert.That(server.ExitCode, Is.Zero);
            Assert.That(await stderr, Does.Contain("stopping"));
        }
        finally
        {
            if (!server.HasExited) server.Kill(entireProcessTree: true);
        }
    }
}

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
    public async Task HyprstreamServe_WithSnapshotFp16_CheckpointsWriteTheFp16SnapshotFile_AndWithoutItNone()
    {
        using var dir = new TempDir();
        using (var a = Fixtures.Small("small", count: 300)) a.Save(dir.File("small.vdb"));
        var folder = System.IO.Path.Combine(dir.Path, Hyprstream.Service.ServiceStore.StoreFolder, Hyprstream.Runtime.Store.AdapterStore.CheckpointFolder);
        foreach (var fp16 in new[] { true, false })
        {
            var (server, line) = fp16 ? await ServeProcess.StartAsync(dir.Path, "--snapshot-fp16") : await ServeProcess.StartAsync(dir.Path);
            using var _ = server;
            try
            {
                using var client = new FlightClient(new Uri("http://" + ServeProcess.Authority(line)));
                if (!fp16) Assert.That(Directory.GetFiles(folder, "*.fp16.nvdb"), Is.Empty, "a start without the flag removed it");
                // A change, so that the checkpoint writes new files.
                var added = fp16 ? "second" : "third";
                using (var b = Fixtures.Small(added, count: 50)) b.Save(dir.File(added + ".vdb"));
                await client.DoActionAsync("rescan");
                await client.DoActionAsync("checkpoint");
            }
            finally
            {
                if (!server.HasExited) server.Kill(entireProcessTree: true);
                server.WaitForExit(30_000); // hang guard only
            }
            if (fp16)
            {
                var files = Directory.GetFiles(folder, "*.fp16.nvdb");
                Assert.That(files, Has.Length.EqualTo(2), "one per adapter");
                foreach (var f in files)
                {
                    using var snap = Hyprstream.Runtime.Snapshots.AdapterSnapshot.Map(f, verifyChecksum: true);
                    Assert.That(snap.Precision, Is.EqualTo(Hyprstream.Runtime.Snapshots.SnapshotPrecision.Fp16));
                }
            }
            else
            {
                Assert.That(Directory.GetFiles(folder, "*.vdb"), Has.Length.EqualTo(3), "the third adapter was checkpointed");
                Assert.That(Directory.GetFiles(folder, "*.fp16.nvdb"), Is.Empty, "no --snapshot-fp16: no Fp16 file");
            }
        }
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

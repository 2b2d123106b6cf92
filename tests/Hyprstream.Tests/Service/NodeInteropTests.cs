using System.Diagnostics;
using System.Text.Json;
using Hyprstream.Runtime;

namespace Hyprstream.Tests.Service;

/// <summary>
/// The service against an independent Flight implementation: tests/interop/flight_client.mjs (npm apache-arrow and
/// @grpc/grpc-js, installed by `./build.sh test` with `npm ci`) does Handshake, ListFlights, DoGet, DoPut, DoAction
/// and ListActions against a server started here; its report is checked value by value.
/// </summary>
[TestFixture]
public sealed class NodeInteropTests
{
    private const string Token = "interop-secret";

    internal static string RepoRoot()
    {
        var d = new DirectoryInfo(TestContext.CurrentContext.TestDirectory);
        while (d != null && !File.Exists(Path.Combine(d.FullName, "Hyprstream.sln"))) d = d.Parent;
        return d?.FullName ?? throw new DirectoryNotFoundException("repository root (Hyprstream.sln) not found above the test directory");
    }

    [Test]
    public async Task NodeClient_HandshakeListGetPutAction_AgainstOurServer()
    {
        var root = RepoRoot();
        var interop = Path.Combine(root, "tests", "interop");
        Assert.That(Directory.Exists(Path.Combine(interop, "node_modules", "apache-arrow")), Is.True,
            "tests/interop/node_modules is missing: run `npm ci` in tests/interop (./build.sh test does)");
        Dictionary<(string, int, int), float> expected;
        await using var s = await FlightServer.StartAsync(dir =>
        {
            using var a = Fixtures.Small("small", count: 200);
            a.Save(dir.File("small.vdb"));
        }, tokens: [Token]);
        using (var a = SparseAdapter.Load(s.Dir.File("small.vdb"))) expected = Fixtures.Snapshot(a);

        var psi = new ProcessStartInfo("node", [Path.Combine(interop, "flight_client.mjs"), s.Host.Address.Authority, Token,
            Path.Combine(root, "src", "Hyprstream.Flight", "Protos", "Flight.proto")])
        { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = interop };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000)) { p.Kill(true); Assert.Fail("the node client did not finish in 120 s"); }
        Assert.That(p.ExitCode, Is.EqualTo(0), await stderr);
        using var report = JsonDocument.Parse(await stdout);
        var r = report.RootElement;
        Assert.That(r.TryGetProperty("error", out var err) ? err.GetString() : null, Is.Null, "node client failed");

        Assert.That(r.GetProperty("unauthenticated").GetInt32(), Is.EqualTo(16));
        Assert.That(r.GetProperty("handshake").GetBoolean(), Is.True);
        var flights = r.GetProperty("flights").EnumerateArray().ToList();
        var whole = flights.Single(f => f.GetProperty("path").GetArrayLength() == 2 && f.GetProperty("path")[0].GetString() == "adapters" && f.GetProperty("path")[1].GetString() == "small");
        Assert.That(whole.GetProperty("records").GetInt64(), Is.EqualTo(expected.Count));
        // Rows and tiles: one flight per adapter and per module in each form.
        Assert.That(flights.Count(f => f.GetProperty("path").GetArrayLength() == 3), Is.EqualTo(4));
        Assert.That(r.GetProperty("schema").EnumerateArray().Select(x => x.GetString()),
            Is.EqualTo(new[] { "module:Dictionary<Int16, Utf8>", "row:Int32", "col:Int32", "value:Float32" }));
        Assert.That(r.GetProperty("tileSchema").EnumerateArray().Select(x => x.GetString()),
            Is.EqualTo(new[] { "module:Dictionary<Int16, Utf8>", "tile_row:Int32", "tile_col:Int32", "values:FixedSizeList[512]<Float32>" }));
        var fromTiles = new Dictionary<(string, int, int), float>();
        foreach (var row in r.GetProperty("tileWeights").EnumerateArray())
            fromTiles.Add((row[0].GetString()!, row[1].GetInt32(), row[2].GetInt32()), (float)row[3].GetDouble());
        Assert.That(fromTiles, Is.EquivalentTo(expected), "the tile flight carries every stored weight, value by value");
        Assert.That(r.GetProperty("tileCount").GetInt32(), Is.EqualTo(expected.Keys.Select(k => (k.Item1, k.Item2 >> 3, k.Item3 >> 6)).Distinct().Count()));

        var got = new Dictionary<(string, int, int), float>();
        foreach (var row in r.GetProperty("rows").EnumerateArray())
            got.Add((row[0].GetString()!, row[1].GetInt32(), row[2].GetInt32()), (float)row[3].GetDouble());
        Assert.That(got, Is.EquivalentTo(expected));

        var put = r.GetProperty("put").EnumerateArray().ToList();
        Assert.That(put, Has.Count.EqualTo(1));
        Assert.That(put[0].GetString(), Does.Contain("\"rows\":3"));
        using (var fromNode = s.Durable("from-node")!)
        {
            var q = fromNode.Modules["model.layers.0.self_attn.q_proj"];
            Assert.That(q.Get(1, 10), Is.EqualTo(0.5f));
            Assert.That(q.Get(2, 20), Is.EqualTo(-0.25f));
            Assert.That(q.Get(63, 127), Is.EqualTo(3f));
            Assert.That(q.ActiveCount, Is.EqualTo(3));
        }
        Assert.That(r.GetProperty("tilePut").EnumerateArray().Count(), Is.EqualTo(1));
        using (var tiles = s.Durable("tiles-from-node")!)
        {
            var q = tiles.Modules["model.layers.0.self_attn.q_proj"];
            Assert.That(q.Get(0, 0), Is.EqualTo(1.5f));
            Assert.That(q.Get(63, 127), Is.EqualTo(-2f));
            Assert.That(q.ActiveCount, Is.EqualTo(2), "zeros in a tile set are not stored");
        }
        var stats = r.GetProperty("stats");
        Assert.That(stats.GetProperty("adapters").GetInt32(), Is.EqualTo(3));
        Assert.That(stats.GetProperty("active_weights").GetInt64(), Is.EqualTo(expected.Count + 3 + 2));
        Assert.That(r.GetProperty("actions").EnumerateArray().Select(x => x.GetString()),
            Is.SupersetOf(new[] { "merge", "fuse", "prune", "keep-top", "save", "delete", "stats", "load", "unload", "rescan" }));
        Assert.That(r.GetProperty("badAction").GetInt32(), Is.EqualTo(3));
    }
}

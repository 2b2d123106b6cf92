using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Grpc.Core;
using Hyprstream.Flight.Protocol;
using Hyprstream.Flight.Rpc;
using Hyprstream.Replication;
using Hyprstream.Tests.Service;
using static Hyprstream.Tests.Service.FlightPutTests;
using static Hyprstream.Tests.Service.FlightServiceTests;

namespace Hyprstream.Tests.Replication;

/// <summary>
/// Read replicas as users run them: a real `hyprstream serve --object-store` leader and `serve --follow` followers
/// (separate processes) on one real Ceph RGW. Followers converge value by value (after a SIGKILL and restart too),
/// refuse writes naming the leader, and every node's GetFlightInfo lists the nodes that serve the adapter.
/// </summary>
[TestFixture]
public sealed class FollowerServeTests
{
    private const string Q = "model.layers.0.self_attn.q_proj";
    private readonly List<(Process P, StringBuilder Err)> _servers = [];
    private readonly List<TempDir> _dirs = [];

    [TearDown]
    public void CleanUp()
    {
        foreach (var (p, err) in _servers)
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            p.WaitForExit(10_000);
            if (TestContext.CurrentContext.Result.Outcome.Status == NUnit.Framework.Interfaces.TestStatus.Failed)
                TestContext.Progress.WriteLine($"--- serve {p.Id} stderr ---\n{err}");
            p.Dispose();
        }
        _servers.Clear();
        foreach (var d in _dirs) d.Dispose();
        _dirs.Clear();
    }

    private sealed record Node(Process Process, int Port, FlightClient Client)
    {
        public string Endpoint => $"grpc://127.0.0.1:{Port}";
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private string NewDir()
    {
        var d = new TempDir();
        _dirs.Add(d);
        return d.Path;
    }

    private async Task<Node> StartAsync(string dataDir, params string[] args)
    {
        var port = FreePort();
        var (p, _) = await ServeProcess.StartAsync(dataDir, $"127.0.0.1:{port}", Ceph.Environment(Ceph.Cluster),
            [.. args, "--advertise", $"grpc://127.0.0.1:{port}"]);
        var err = new StringBuilder();
        _ = Task.Run(async () =>
        {
            while (await p.StandardError.ReadLineAsync() is { } line) lock (err) err.AppendLine(line);
        });
        _servers.Add((p, err));
        return new Node(p, port, new FlightClient(new Uri($"http://127.0.0.1:{port}")));
    }

    private Task<Node> LeaderAsync(ObjectStore bucket, string dir) =>
        StartAsync(dir, "--object-store", bucket.Root.ToString(), "--ship-interval", "100ms", "--lease", "5s");

    private Task<Node> FollowerAsync(ObjectStore bucket, string? dir = null) =>
        StartAsync(dir ?? NewDir(), "--follow", bucket.Root.ToString(), "--poll-interval", "100ms");

    private static async Task<JsonElement> StatsAsync(FlightClient c)
    {
        var r = await c.DoActionAsync("stats");
        return JsonDocument.Parse(r[0]).RootElement.GetProperty("replication").Clone();
    }

    private static async Task PutAsync(FlightClient c, string adapter, int round, bool create)
    {
        var d = create ? Cmd(CreateCmd(adapter)) : FlightServiceTests.Path("adapters", adapter);
        var cells = Enumerable.Range(0, 40).Select(i => (Q, (round * 7 + i) % 64, (round * 13 + i * 3) % 128, round + i / 100f)).ToArray();
        await c.DoPutAsync(d, RowSchema, [(Batch(cells), null)]);
    }

    /// <summary>Waits (60 s at most) until the follower has applied everything the leader has stored and shipped.</summary>
    private static async Task WaitConvergedAsync(Node leader, Node follower)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var l = await StatsAsync(leader.Client);
            var f = await StatsAsync(follower.Client);
            var local = l.GetProperty("local_seq").GetUInt64();
            if (l.GetProperty("shipped_seq").GetUInt64() == local && f.GetProperty("applied_seq").GetUInt64() == local)
            {
                // A number to read, never asserted: how long after the last acknowledged write the follower had it.
                TestContext.Progress.WriteLine($"follower {follower.Endpoint} converged on sequence {local} {sw.ElapsedMilliseconds} ms after the last write was acknowledged (ship 100 ms, poll 100 ms)");
                return;
            }
            if (sw.Elapsed > TimeSpan.FromSeconds(60))
                Assert.Fail($"the follower did not converge within 60 s: leader {l}, follower {f}");
            await Task.Delay(100);
        }
    }

    private static async Task<SortedDictionary<string, string>> ContentsAsync(FlightClient c)
    {
        var all = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var f in await c.ListFlightsAsync())
        {
            var p = f.FlightDescriptor.Path;
            if (p.Count != 2 || p[0] != "adapters") continue;
            var values = await ReadAll(c, f.Endpoint[0].Ticket);
            all[p[1]] = f.AppMetadata.ToStringUtf8() + " | " +
                string.Join(";", values.OrderBy(v => v.Key).Select(v => $"{v.Key.Item1}[{v.Key.Item2},{v.Key.Item3}]={v.Value:R}"));
        }
        return all;
    }

    [Test]
    public async Task LeaderWrites_FollowersConvergeValueByValue_EvenAfterAKillAndRestart()
    {
        using var bucket = Ceph.NewBucket(Ceph.Cluster);
        var leader = await LeaderAsync(bucket, NewDir());
        for (int i = 0; i < 10; i++) await PutAsync(leader.Client, "a", i, create: i == 0);
        await PutAsync(leader.Client, "b", 0, create: true);
        await leader.Client.DoActionAsync("index-upsert", JsonSerializer.SerializeToUtf8Bytes(new { adapter = "a", vector = new[] { 1.0, 0.0, 0.0 } }));
        await leader.Client.DoActionAsync("checkpoint");
        for (int i = 10; i < 20; i++) await PutAsync(leader.Client, "a", i, create: false);

        var followerDir = NewDir();
        var follower = await FollowerAsync(bucket, followerDir);
        await WaitConvergedAsync(leader, follower);
        Assert.That(await ContentsAsync(follower.Client), Is.EqualTo(await ContentsAsync(leader.Client)));

        // Writes while it follows: new adapters, updates, a delete, an embedding (search follows it).
        await PutAsync(leader.Client, "c", 0, create: true);
        for (int i = 20; i < 30; i++) await PutAsync(leader.Client, "a", i, create: false);
        await leader.Client.DoActionAsync("delete", JsonSerializer.SerializeToUtf8Bytes(new { adapter = "b" }));
        await leader.Client.DoActionAsync("index-upsert", JsonSerializer.SerializeToUtf8Bytes(new { adapter = "c", vector = new[] { 0.0, 1.0, 0.0 } }));
        await WaitConvergedAsync(leader, follower);
        var expected = await ContentsAsync(leader.Client);
        Assert.That(expected.Keys, Is.EqualTo(new[] { "a", "c" }));
        Assert.That(await ContentsAsync(follower.Client), Is.EqualTo(expected));
        var search = JsonSerializer.SerializeToUtf8Bytes(new { vector = new[] { 0.1, 0.9, 0.0 }, k = 2 });
        var onLeader = Encoding.UTF8.GetString((await leader.Client.DoActionAsync("search", search))[0]);
        var onFollower = Encoding.UTF8.GetString((await follower.Client.DoActionAsync("search", search))[0]);
        Assert.That(onFollower, Is.EqualTo(onLeader));
        Assert.That(onFollower, Does.Contain("\"c\""));

        // SIGKILL the follower, write on, start it again on the same data directory: it converges again.
        follower.Process.Kill(entireProcessTree: true);
        await follower.Process.WaitForExitAsync();
        for (int i = 30; i < 40; i++) await PutAsync(leader.Client, "c", i, create: false);
        await PutAsync(leader.Client, "d", 0, create: true);
        var again = await FollowerAsync(bucket, followerDir);
        await WaitConvergedAsync(leader, again);
        Assert.That(await ContentsAsync(again.Client), Is.EqualTo(await ContentsAsync(leader.Client)));
        var stats = await StatsAsync(again.Client);
        Assert.That(stats.GetProperty("role").GetString(), Is.EqualTo("follower"));
        Assert.That(stats.GetProperty("lag_records").GetUInt64(), Is.Zero);
        Assert.That(stats.GetProperty("bucket").GetString(), Is.EqualTo(bucket.Root.ToString()));
    }

    [Test]
    public async Task AFollower_RefusesDoPutAndChangingActions_NamingTheLeader_AndServesReads()
    {
        using var bucket = Ceph.NewBucket(Ceph.Cluster);
        var leader = await LeaderAsync(bucket, NewDir());
        await PutAsync(leader.Client, "a", 0, create: true);
        var follower = await FollowerAsync(bucket);
        await WaitConvergedAsync(leader, follower);
        var leaderId = (await StatsAsync(leader.Client)).GetProperty("leader_id").GetString()!;

        void Refused(RpcException? e, string what)
        {
            Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.FailedPrecondition), what);
            Assert.That(e.Status.Detail, Does.Contain("read replica").And.Contain(leaderId).And.Contain(leader.Endpoint), what);
            Assert.That(e.Trailers.GetValue("hyprstream-leader"), Is.EqualTo(leader.Endpoint), what);
        }
        Refused(Assert.ThrowsAsync<RpcException>(() => PutAsync(follower.Client, "a", 1, create: false)), "DoPut");
        Refused(Assert.ThrowsAsync<RpcException>(() => PutAsync(follower.Client, "new", 0, create: true)), "DoPut create");
        foreach (var (action, body) in new (string, object)[]
                 {
                     ("delete", new { adapter = "a" }), ("prune", new { adapter = "a", tolerance = 0.5 }), ("merge", new { target = "a", source = "a" }),
                     ("index-upsert", new { adapter = "a", vector = new[] { 1.0 } }), ("checkpoint", new { }), ("load", new { adapter = "a" }),
                 })
            Refused(Assert.ThrowsAsync<RpcException>(() => follower.Client.DoActionAsync(action, JsonSerializer.SerializeToUtf8Bytes(body))), action);

        // Nothing changed, and reads go on.
        await WaitConvergedAsync(leader, follower);
        Assert.That(await ContentsAsync(follower.Client), Is.EqualTo(await ContentsAsync(leader.Client)));
        var info = await follower.Client.GetFlightInfoAsync(FlightServiceTests.Path("adapters", "a"));
        Assert.That((await ReadAll(follower.Client, info.Endpoint[0].Ticket)).Count, Is.EqualTo(40));
    }

    [Test]
    public async Task GetFlightInfo_OnAnyNode_ListsTheNodesThatServeTheAdapter()
    {
        using var bucket = Ceph.NewBucket(Ceph.Cluster);
        var leader = await LeaderAsync(bucket, NewDir());
        await PutAsync(leader.Client, "a", 0, create: true);
        var f1 = await FollowerAsync(bucket);
        var f2 = await FollowerAsync(bucket);
        await WaitConvergedAsync(leader, f1);
        await WaitConvergedAsync(leader, f2);
        var all = new[] { leader.Endpoint, f1.Endpoint, f2.Endpoint }.Order().ToArray();

        async Task<string[]> LocationsAsync(Node at)
        {
            var info = await at.Client.GetFlightInfoAsync(FlightServiceTests.Path("adapters", "a"));
            return info.Endpoint.Single().Location.Select(l => l.Uri).ToArray();
        }
        async Task<string[]> WaitLocationsAsync(Node at, string[] expected)
        {
            var sw = Stopwatch.StartNew();
            string[] got;
            // Registrations are renewed every 2 s: a node's view follows within a round or two.
            while (!(got = await LocationsAsync(at)).Order().SequenceEqual(expected) && sw.Elapsed < TimeSpan.FromSeconds(20)) await Task.Delay(200);
            return got;
        }
        foreach (var node in new[] { leader, f1, f2 })
        {
            var got = await WaitLocationsAsync(node, all);
            Assert.That(got.Order(), Is.EqualTo(all), $"locations on {node.Endpoint}");
            Assert.That(got[0], Is.EqualTo(node.Endpoint), "a node lists itself first");
            // Every listed location redeems the ticket to the same values.
            var ticket = (await node.Client.GetFlightInfoAsync(FlightServiceTests.Path("adapters", "a"))).Endpoint[0].Ticket;
            foreach (var uri in got)
            {
                using var c = new FlightClient(new Uri("http://" + new Uri(uri).Authority));
                Assert.That((await ReadAll(c, ticket)).Count, Is.EqualTo(40), uri);
            }
        }

        // A follower that stops (SIGTERM) removes its registration: the others stop listing it.
        Process.Start("kill", ["-TERM", f2.Process.Id.ToString()])!.WaitForExit();
        Assert.That(f2.Process.WaitForExit(20_000), Is.True, "the follower stopped on SIGTERM");
        var left = new[] { leader.Endpoint, f1.Endpoint }.Order().ToArray();
        Assert.That((await WaitLocationsAsync(leader, left)).Order(), Is.EqualTo(left));
        Assert.That((await WaitLocationsAsync(f1, left)).Order(), Is.EqualTo(left));
    }

    [Test]
    public async Task AFollowerWithoutData_KeepsItsReplicaInAPrivateFolder_RemovedWhenItStops()
    {
        using var bucket = Ceph.NewBucket(Ceph.Cluster);
        var leader = await LeaderAsync(bucket, NewDir()); // stopped with the fixture's servers
        await PutAsync(leader.Client, "a", 0, create: true);
        var psi = ServeProcess.StartInfo(["serve", "--listen", "127.0.0.1:0", "--follow", bucket.Root.ToString(), "--poll-interval", "100ms"],
            Ceph.Environment(Ceph.Cluster));
        using var p = Process.Start(psi)!;
        var line = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.That(line, Does.StartWith("hyprstream serving"), await Task.Run(() => p.HasExited ? p.StandardError.ReadToEnd() : ""));
        var replica = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"hyprstream-follow-{p.Id}");
        Assert.That(Directory.Exists(replica), Is.True, "the replica lives in the follower's private folder");
        Process.Start("kill", ["-TERM", p.Id.ToString()])!.WaitForExit();
        Assert.That(p.WaitForExit(20_000), Is.True, "the follower stopped on SIGTERM");
        Assert.That(Directory.Exists(replica), Is.False, "the private folder is removed when the follower stops");
    }
}

using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Hyprstream.Flight.Flight;
using Hyprstream.Flight.Grpc;
using Hyprstream.Runtime;
using Hyprstream.Server.Service;
using static Hyprstream.Tests.Flight.FlightPutTests;
using static Hyprstream.Tests.Flight.FlightServiceTests;

namespace Hyprstream.Tests.Flight;

/// <summary>DoAction (every action, with its JSON body and result), .vdb hand-over by file, and bearer-token auth.</summary>
[TestFixture]
public sealed class FlightActionAuthTests
{
    private const string Q = "model.layers.0.self_attn.q_proj";

    internal static async Task<JsonElement> Act(FlightClient c, string type, object? body = null)
    {
        var results = await c.DoActionAsync(type, body == null ? null : JsonSerializer.SerializeToUtf8Bytes(body));
        Assert.That(results, Has.Count.EqualTo(1));
        return JsonDocument.Parse(results[0]).RootElement.Clone();
    }

    private static async Task Put(FlightClient c, string name, params (string, int, int, float)[] w) =>
        await c.DoPutAsync(Cmd(CreateCmd(name)), WeightSchema.Schema, [(Batch(w), null)]);

    [Test]
    public async Task MergeFusePruneKeepTop_ChangeTheAdapters_AndAreSaved()
    {
        await using var s = await FlightServer.StartAsync();
        await Put(s.Client, "a", (Q, 0, 0, 1f), (Q, 1, 1, 0.001f));
        await Put(s.Client, "b", (Q, 0, 0, 2f), (Q, 2, 2, 4f));

        var merged = await Act(s.Client, "merge", new { target = "a", source = "b", scale = 0.5 });
        Assert.That(merged.GetProperty("active").GetInt64(), Is.EqualTo(3));
        using (var onDisk = SparseAdapter.Load(s.Dir.File("a.vdb")))
        {
            Assert.That(onDisk.Modules[Q].Get(0, 0), Is.EqualTo(2f)); // 1 + 0.5·2 (both scale 2: effective deltas)
            Assert.That(onDisk.Modules[Q].Get(2, 2), Is.EqualTo(2f));
        }

        var fused = await Act(s.Client, "fuse", new { name = "c", sources = new[] { "a", "b" }, weights = new[] { 1.0, -1.0 } });
        Assert.That(fused.GetProperty("name").GetString(), Is.EqualTo("c"));
        Assert.That(File.Exists(s.Dir.File("c.vdb")), Is.True);
        var e = Assert.ThrowsAsync<GrpcException>(() => Act(s.Client, "fuse", new { name = "c", sources = new[] { "a" }, weights = new[] { 1.0 } }));
        Assert.That(e!.Status, Is.EqualTo(GrpcStatusCode.AlreadyExists));

        var pruned = await Act(s.Client, "prune", new { adapter = "a", tolerance = 0.01 });
        Assert.That(pruned.GetProperty("removed").GetInt64(), Is.EqualTo(1));
        using (var onDisk = SparseAdapter.Load(s.Dir.File("a.vdb"))) Assert.That(onDisk.ActiveCount, Is.EqualTo(2));

        var kept = await Act(s.Client, "keep-top", new { adapter = "b", fraction = 1.0 / (64 * 128), structure = "unstructured" });
        Assert.That(kept.GetProperty("energy").GetDouble(), Is.EqualTo(4 / Math.Sqrt(20)).Within(1e-6));
        using (var onDisk = SparseAdapter.Load(s.Dir.File("b.vdb"))) Assert.That(onDisk.ActiveCount, Is.EqualTo(1));

        var saved = await Act(s.Client, "save", new { adapter = "b" });
        Assert.That(saved.GetProperty("bytes").GetInt64(), Is.EqualTo(new FileInfo(s.Dir.File("b.vdb")).Length));

        var stats = await Act(s.Client, "stats");
        Assert.That(stats.GetProperty("adapters").GetInt32(), Is.EqualTo(3));
        Assert.That(stats.GetProperty("active_weights").GetInt64(), Is.EqualTo(2 + 1 + 3));
        Assert.That(stats.GetProperty("memory_bytes").GetInt64(), Is.GreaterThan(0));
        Assert.That(stats.GetProperty("weights_written").GetInt64(), Is.EqualTo(4));
    }

    [Test]
    public async Task DeleteUnloadLoadRescan_ManageWhatIsServed()
    {
        await using var s = await FlightServer.StartAsync();
        await Put(s.Client, "a", (Q, 3, 3, 3f));

        // A file saved by the API and dropped into the data directory is served under its file name after rescan.
        using (var dropped = Fixtures.Small("inner-name")) dropped.Save(s.Dir.File("dropped.vdb"));
        File.WriteAllText(s.Dir.File("broken.vdb"), "not a vdb file");
        var rescan = await Act(s.Client, "rescan");
        Assert.That(rescan.GetProperty("loaded").EnumerateArray().Select(x => x.GetString()), Is.EqualTo(new[] { "dropped" }));
        Assert.That(rescan.GetProperty("failed").TryGetProperty("broken", out _), Is.True);
        Assert.That((await s.Client.GetFlightInfoAsync(Path("adapters", "dropped"))).TotalRecords, Is.GreaterThan(0));

        Assert.That((await Act(s.Client, "unload", new { adapter = "a" })).GetProperty("unloaded").GetBoolean(), Is.True);
        var e = Assert.ThrowsAsync<GrpcException>(() => s.Client.GetFlightInfoAsync(Path("adapters", "a")));
        Assert.That(e!.Status, Is.EqualTo(GrpcStatusCode.NotFound));
        Assert.That((await Act(s.Client, "rescan")).GetProperty("loaded").GetArrayLength(), Is.EqualTo(0), "rescan leaves unloaded adapters alone");
        var loaded = await Act(s.Client, "load", new { adapter = "a" });
        Assert.That(loaded.GetProperty("active").GetInt64(), Is.EqualTo(1));
        Assert.That((await s.Client.GetFlightInfoAsync(Path("adapters", "a"))).TotalRecords, Is.EqualTo(1));

        Assert.That((await Act(s.Client, "delete", new { adapter = "a" })).GetProperty("deleted").GetBoolean(), Is.True);
        Assert.That(File.Exists(s.Dir.File("a.vdb")), Is.False);
        e = Assert.ThrowsAsync<GrpcException>(() => Act(s.Client, "load", new { adapter = "a" }));
        Assert.That(e!.Status, Is.EqualTo(GrpcStatusCode.NotFound));
        e = Assert.ThrowsAsync<GrpcException>(() => Act(s.Client, "prune", new { adapter = "a", tolerance = 0 }));
        Assert.That(e!.Status, Is.EqualTo(GrpcStatusCode.NotFound));
        e = Assert.ThrowsAsync<GrpcException>(() => Act(s.Client, "prune", new { adapter = "dropped" }));
        Assert.That(e!.Status, Is.EqualTo(GrpcStatusCode.InvalidArgument));
        e = Assert.ThrowsAsync<GrpcException>(async () => await s.Client.DoActionAsync("stats", Encoding.UTF8.GetBytes("{not json")));
        Assert.That(e!.Status, Is.EqualTo(GrpcStatusCode.InvalidArgument));
    }

    [Test]
    public async Task Tokens_MissingOrWrong_AreUnauthenticated_HandshakeGrantsAccess()
    {
        await using var s = await FlightServer.StartAsync(tokens: ["s3cret"]);
        var e = Assert.ThrowsAsync<GrpcException>(() => s.Client.ListFlightsAsync());
        Assert.That(e!.Status, Is.EqualTo(GrpcStatusCode.Unauthenticated));
        s.Client.Token = "wrong";
        e = Assert.ThrowsAsync<GrpcException>(() => s.Client.DoActionAsync("stats"));
        Assert.That(e!.Status, Is.EqualTo(GrpcStatusCode.Unauthenticated));
        e = Assert.ThrowsAsync<GrpcException>(() => s.Client.HandshakeAsync("also-wrong"));
        Assert.That(e!.Status, Is.EqualTo(GrpcStatusCode.Unauthenticated));

        Assert.That(Encoding.UTF8.GetString(await s.Client.HandshakeAsync("s3cret")), Is.EqualTo("s3cret"));
        Assert.That(await s.Client.ListFlightsAsync(), Is.Empty);

        // pyarrow's authenticate_basic_token: `authorization: Basic base64(user:token)` on Handshake.
        using var basic = new FlightClient(s.Host.Address);
        await using var call = basic.Channel.Start(FlightPaths.Handshake, new GrpcCallOptions
        {
            Headers = new Dictionary<string, string> { ["authorization"] = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("user:s3cret")) },
        });
        await call.WriteAsync(new Hyprstream.Flight.Protocol.HandshakeRequest().ToByteArray());
        await call.CompleteRequestAsync();
        Assert.That(await call.ReadAsync(), Is.Not.Null);
        Assert.That(call.Response!.Headers.GetValues("authorization").Single(), Is.EqualTo("Bearer s3cret"));
    }

    [Test]
    public void NonLoopbackListen_WithoutToken_RefusesToStart()
    {
        using var dir = new TempDir();
        var e = Assert.ThrowsAsync<ArgumentException>(() => FlightServiceHost.StartAsync(new FlightServiceOptions
        {
            DataDirectory = dir.Path,
            Listen = new System.Net.IPEndPoint(System.Net.IPAddress.Any, 0),
        }));
        Assert.That(e!.Message, Does.Contain("token"));
    }
}

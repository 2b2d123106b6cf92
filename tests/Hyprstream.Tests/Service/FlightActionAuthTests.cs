using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Hyprstream.Flight.Rpc;
using Grpc.Core;
using Hyprstream.Flight;
using Hyprstream.Runtime;
using Hyprstream.Service;
using static Hyprstream.Tests.Service.FlightPutTests;
using static Hyprstream.Tests.Service.FlightServiceTests;

namespace Hyprstream.Tests.Service;

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
        await c.DoPutAsync(Cmd(CreateCmd(name)), RowSchema, [(Batch(w), null)]);

    [Test]
    public async Task MergeFusePruneKeepTop_ChangeTheAdapters_AndAreDurable()
    {
        await using var s = await FlightServer.StartAsync();
        await Put(s.Client, "a", (Q, 0, 0, 1f), (Q, 1, 1, 0.001f));
        await Put(s.Client, "b", (Q, 0, 0, 2f), (Q, 2, 2, 4f));

        var merged = await Act(s.Client, "merge", new { target = "a", source = "b", scale = 0.5 });
        Assert.That(merged.GetProperty("active").GetInt64(), Is.EqualTo(3));
        using (var durable = s.Durable("a")!)
        {
            Assert.That(durable.Modules[Q].Get(0, 0), Is.EqualTo(2f)); // 1 + 0.5·2 (both scale 2: effective deltas)
            Assert.That(durable.Modules[Q].Get(2, 2), Is.EqualTo(2f));
        }

        var fused = await Act(s.Client, "fuse", new { name = "c", sources = new[] { "a", "b" }, weights = new[] { 1.0, -1.0 } });
        Assert.That(fused.GetProperty("name").GetString(), Is.EqualTo("c"));
        using (var durable = s.Durable("c")!)
        {
            // Effective deltas into a module of scale 1: a and b both have scale 2.
            Assert.That(durable.Modules[Q].Scale, Is.EqualTo(1f));
            Assert.That(durable.Modules[Q].Get(0, 0), Is.EqualTo(0f)); // 2·2 - 2·2
            Assert.That(durable.Modules[Q].Get(2, 2), Is.EqualTo(-4f)); // 2·2 - 2·4
            Assert.That(durable.Provenance["source"], Is.EqualTo("fuse"));
        }
        var e = Assert.ThrowsAsync<RpcException>(() => Act(s.Client, "fuse", new { name = "c", sources = new[] { "a" }, weights = new[] { 1.0 } }));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.AlreadyExists));

        var pruned = await Act(s.Client, "prune", new { adapter = "a", tolerance = 0.01 });
        Assert.That(pruned.GetProperty("removed").GetInt64(), Is.EqualTo(1));
        using (var durable = s.Durable("a")!) Assert.That(durable.ActiveCount, Is.EqualTo(2));

        var kept = await Act(s.Client, "keep-top", new { adapter = "b", fraction = 1.0 / (64 * 128), structure = "unstructured" });
        Assert.That(kept.GetProperty("energy").GetDouble(), Is.EqualTo(4 / Math.Sqrt(20)).Within(1e-6));
        using (var durable = s.Durable("b")!) Assert.That(durable.ActiveCount, Is.EqualTo(1));

        // save writes the hand-over file: a .vdb anyone can open.
        var saved = await Act(s.Client, "save", new { adapter = "b" });
        Assert.That(saved.GetProperty("bytes").GetInt64(), Is.EqualTo(new FileInfo(s.Dir.File("b.vdb")).Length));
        using (var file = SparseAdapter.Load(s.Dir.File("b.vdb"))) Assert.That(file.Modules[Q].Get(2, 2), Is.EqualTo(4f));

        var stats = await Act(s.Client, "stats");
        Assert.That(stats.GetProperty("adapters").GetInt32(), Is.EqualTo(3));
        Assert.That(stats.GetProperty("active_weights").GetInt64(), Is.EqualTo(2 + 1 + 3));
        Assert.That(stats.GetProperty("memory_bytes").GetInt64(), Is.GreaterThan(0));
        Assert.That(stats.GetProperty("weights_written").GetInt64(), Is.EqualTo(4));
        var store = stats.GetProperty("store");
        Assert.That(store.GetProperty("fsync").GetString(), Does.StartWith("batch"));
        Assert.That(store.GetProperty("wal_records_appended").GetInt64(), Is.GreaterThanOrEqualTo(2 + 2 + 1 + 1 + 1 + 1), "creates (each with its modules), puts, merge, fuse, prune, keep-top");
        Assert.That(store.GetProperty("cache").GetProperty("tiers")[0].GetProperty("entries").GetInt32(), Is.EqualTo(3));
    }

    [Test]
    public async Task Merge_WithDifferentModuleScales_AddsEffectiveDeltas_AndBadMergesChangeNothing()
    {
        await using var s = await FlightServer.StartAsync();
        await s.Client.DoPutAsync(Cmd(new { adapter = "x", create = true, modules = new[] { new { name = Q, rows = 64, cols = 128, scale = 1.0 } } }),
            RowSchema, [(Batch((Q, 0, 0, 1f)), null)]);
        await s.Client.DoPutAsync(Cmd(new { adapter = "y", create = true, modules = new[] { new { name = Q, rows = 64, cols = 128, scale = 4.0 } } }),
            RowSchema, [(Batch((Q, 0, 0, 1f)), null)]);
        await s.Client.DoPutAsync(Cmd(new { adapter = "z", create = true, modules = new[] { new { name = Q, rows = 32, cols = 128, scale = 1.0 } } }),
            RowSchema, [(Batch((Q, 0, 0, 1f)), null)]);
        await Act(s.Client, "merge", new { target = "x", source = "y", scale = 0.5 });
        using (var durable = s.Durable("x")!) Assert.That(durable.Modules[Q].Get(0, 0), Is.EqualTo(1f + 0.5f * 4f)); // x's scale is 1

        var e = Assert.ThrowsAsync<RpcException>(() => Act(s.Client, "merge", new { target = "x", source = "z" }));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(e.Status.Detail, Does.Contain("32x128"));
        e = Assert.ThrowsAsync<RpcException>(() => Act(s.Client, "merge", new { target = "x", source = "nobody" }));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.NotFound));
        using (var durable = s.Durable("x")!) Assert.That(durable.Modules[Q].Get(0, 0), Is.EqualTo(3f));
    }

    [Test]
    public async Task DeleteUnloadLoadRescanPin_ManageTheStoreAndItsCache()
    {
        await using var s = await FlightServer.StartAsync();
        await Put(s.Client, "a", (Q, 3, 3, 3f));

        // A file saved by the API and dropped into the data directory is imported under its file name by rescan.
        using (var dropped = Fixtures.Small("inner-name")) dropped.Save(s.Dir.File("dropped.vdb"));
        File.WriteAllText(s.Dir.File("broken.vdb"), "not a vdb file");
        var rescan = await Act(s.Client, "rescan");
        Assert.That(rescan.GetProperty("loaded").EnumerateArray().Select(x => x.GetString()), Is.EqualTo(new[] { "dropped" }));
        Assert.That(rescan.GetProperty("failed").TryGetProperty("broken", out _), Is.True);
        Assert.That((await s.Client.GetFlightInfoAsync(Path("adapters", "dropped"))).TotalRecords, Is.GreaterThan(0));
        Assert.That((await Act(s.Client, "rescan")).GetProperty("loaded").GetArrayLength(), Is.EqualTo(0), "imported files are not imported twice");
        using (var durable = s.Durable("dropped")!) Assert.That(durable.ActiveCount, Is.GreaterThan(0));

        // unload drops it from memory; it stays in the store and is read back from its snapshot on next use.
        var unloaded = await Act(s.Client, "unload", new { adapter = "a" });
        Assert.That(unloaded.GetProperty("unloaded").GetBoolean(), Is.True);
        Assert.That(unloaded.GetProperty("tier").GetString(), Is.EqualTo("disk"));
        Assert.That(await ReadAll(s.Client, (await s.Client.GetFlightInfoAsync(Path("adapters", "a"))).Endpoint[0].Ticket),
            Is.EquivalentTo(new Dictionary<(string, int, int), float> { [(Q, 3, 3)] = 3f }));

        // pin keeps it in L1 through an unload; unpin lets it go.
        Assert.That((await Act(s.Client, "pin", new { adapter = "a" })).GetProperty("tier").GetString(), Is.EqualTo("L1"));
        Assert.That((await Act(s.Client, "unload", new { adapter = "a" })).GetProperty("unloaded").GetBoolean(), Is.False);
        await Act(s.Client, "unpin", new { adapter = "a" });
        Assert.That((await Act(s.Client, "unload", new { adapter = "a" })).GetProperty("unloaded").GetBoolean(), Is.True);
        Assert.That((await Act(s.Client, "prefetch", new { adapter = "a" })).GetProperty("tier").GetString(), Is.EqualTo("L1"));

        // load without a file brings the stored adapter into memory; with a file it replaces the stored adapter.
        var loaded = await Act(s.Client, "load", new { adapter = "a" });
        Assert.That(loaded.GetProperty("from").GetString(), Is.EqualTo("store"));
        Assert.That(loaded.GetProperty("active").GetInt64(), Is.EqualTo(1));
        long replaced;
        using (var replacement = Fixtures.Small("whatever", count: 5))
        {
            replaced = replacement.ActiveCount;
            replacement.Save(s.Dir.File("a.vdb"));
        }
        loaded = await Act(s.Client, "load", new { adapter = "a" });
        Assert.That(loaded.GetProperty("from").GetString(), Is.EqualTo("file"));
        Assert.That(loaded.GetProperty("active").GetInt64(), Is.EqualTo(replaced));
        using (var durable = s.Durable("a")!) Assert.That(durable.ActiveCount, Is.EqualTo(replaced));

        var checkpoint = await Act(s.Client, "checkpoint");
        Assert.That(checkpoint.GetProperty("checkpoints").GetInt64(), Is.GreaterThanOrEqualTo(1));
        Assert.That(checkpoint.GetProperty("snapshot_bytes").GetInt64(), Is.GreaterThan(0));

        Assert.That((await Act(s.Client, "delete", new { adapter = "a" })).GetProperty("deleted").GetBoolean(), Is.True);
        Assert.That(File.Exists(s.Dir.File("a.vdb")), Is.False);
        Assert.That(s.Durable("a"), Is.Null);
        var e = Assert.ThrowsAsync<RpcException>(() => Act(s.Client, "load", new { adapter = "a" }));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.NotFound));
        e = Assert.ThrowsAsync<RpcException>(() => s.Client.GetFlightInfoAsync(Path("adapters", "a")));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.NotFound));
        e = Assert.ThrowsAsync<RpcException>(() => Act(s.Client, "prune", new { adapter = "a", tolerance = 0 }));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.NotFound));
        e = Assert.ThrowsAsync<RpcException>(() => Act(s.Client, "pin", new { adapter = "a" }));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.NotFound));
        e = Assert.ThrowsAsync<RpcException>(() => Act(s.Client, "prune", new { adapter = "dropped" }));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        e = Assert.ThrowsAsync<RpcException>(() => Act(s.Client, "keep-top", new { adapter = "dropped", fraction = 1.5 }));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        e = Assert.ThrowsAsync<RpcException>(async () => await s.Client.DoActionAsync("stats", Encoding.UTF8.GetBytes("{not json")));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
    }

    [Test]
    public async Task Restart_ServesEverythingAcknowledged_WithoutReimportingFiles()
    {
        using var dir = new TempDir();
        var options = new FlightServiceOptions { DataDirectory = dir.Path, Listen = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0) };
        await using (var host = await FlightServiceHost.StartAsync(options))
        using (var c = new FlightClient(host.Address))
        {
            await Put(c, "kept", (Q, 1, 1, 1f), (Q, 2, 2, 2f));
            await Act(c, "save", new { adapter = "kept" }); // also leaves kept.vdb at the top of the data directory
            await c.DoPutAsync(Path("adapters", "kept"), RowSchema, [(Batch((Q, 3, 3, 3f)), null)]);
        }
        await using (var host = await FlightServiceHost.StartAsync(options))
        using (var c = new FlightClient(host.Address))
        {
            // The store is the truth: kept.vdb (older) is not imported over the later batch.
            Assert.That(await ReadAll(c, (await c.GetFlightInfoAsync(Path("adapters", "kept"))).Endpoint[0].Ticket), Is.EquivalentTo(
                new Dictionary<(string, int, int), float> { [(Q, 1, 1)] = 1f, [(Q, 2, 2)] = 2f, [(Q, 3, 3)] = 3f }));
        }
    }

    [Test]
    public async Task Tokens_MissingOrWrong_AreUnauthenticated_HandshakeGrantsAccess()
    {
        await using var s = await FlightServer.StartAsync(tokens: ["s3cret"]);
        var e = Assert.ThrowsAsync<RpcException>(() => s.Client.ListFlightsAsync());
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
        s.Client.Token = "wrong";
        e = Assert.ThrowsAsync<RpcException>(() => s.Client.DoActionAsync("stats"));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
        e = Assert.ThrowsAsync<RpcException>(() => s.Client.HandshakeAsync("also-wrong"));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));

        Assert.That(Encoding.UTF8.GetString(await s.Client.HandshakeAsync("s3cret")), Is.EqualTo("s3cret"));
        Assert.That(await s.Client.ListFlightsAsync(), Is.Empty);

        // pyarrow's authenticate_basic_token: `authorization: Basic base64(user:token)` on Handshake.
        using var basic = new FlightClient(s.Host.Address);
        using var call = basic.Stub.Handshake(new Metadata { { "authorization", "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("user:s3cret")) } });
        await call.RequestStream.WriteAsync(new Hyprstream.Flight.Protocol.HandshakeRequest());
        await call.RequestStream.CompleteAsync();
        Assert.That(await call.ResponseStream.MoveNext(default), Is.True);
        Assert.That((await call.ResponseHeadersAsync).GetValue("authorization"), Is.EqualTo("Bearer s3cret"));
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

using System.Text.Json;
using Grpc.Core;
using Hyprstream.Flight;
using Hyprstream.Flight.Ipc;
using Hyprstream.Flight.Protocol;

using static Hyprstream.Tests.Service.FlightActionAuthTests;

namespace Hyprstream.Tests.Service;

/// <summary>The routing index over Flight: index-upsert / search / index-remove actions and the ["index"] flight.</summary>
[TestFixture]
public sealed class FlightIndexTests
{
    [Test]
    public async Task UpsertSearchRemove_AndTheIndexFlight_SurviveARestart()
    {
        await using var s = await FlightServer.StartAsync();
        var c = s.Client;
        // index-upsert takes embeddings of stored adapters only.
        foreach (var name in new[] { "math", "code", "poetry" }) await Hyprstream.Tests.Hardening.Hostile.Put(c, name);
        var none = Assert.ThrowsAsync<RpcException>(() => Act(c, "search", new { vector = new[] { 1.0, 0.0 } }));
        Assert.That(none!.StatusCode, Is.EqualTo(StatusCode.NotFound));

        await Act(c, "index-upsert", new { adapter = "math", vector = new[] { 1.0, 0.0, 0.0 }, tags = new[] { "tenant=acme" }, metric = "l2" });
        await Act(c, "index-upsert", new { adapter = "code", vector = new[] { 0.0, 1.0, 0.0 }, tags = new[] { "tenant=acme" } });
        var up = await Act(c, "index-upsert", new { adapter = "poetry", vector = new[] { 0.0, 0.0, 1.0 }, tags = new[] { "tenant=other" } });
        Assert.That(up.GetProperty("count").GetInt32(), Is.EqualTo(3));
        Assert.That(up.GetProperty("metric").GetString(), Is.EqualTo("l2"));

        var found = await Act(c, "search", new { vector = new[] { 0.9, 0.1, 0.0 }, k = 2 });
        var results = found.GetProperty("results").EnumerateArray().ToList();
        Assert.That(results.Select(r => r.GetProperty("adapter").GetString()), Is.EqualTo(new[] { "math", "code" }));
        Assert.That(results[0].GetProperty("distance").GetDouble(), Is.EqualTo(0.02).Within(1e-6));

        var filtered = await Act(c, "search", new { vector = new[] { 0.9, 0.1, 0.0 }, k = 3, filter = new { tenant = "other" } });
        Assert.That(filtered.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("adapter").GetString()), Is.EqualTo(new[] { "poetry" }));

        var wrongMetric = Assert.ThrowsAsync<RpcException>(() => Act(c, "search", new { vector = new[] { 1.0, 0.0, 0.0 }, metric = "cosine" }));
        Assert.That(wrongMetric!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        var wrongDim = Assert.ThrowsAsync<RpcException>(() => Act(c, "search", new { vector = new[] { 1.0, 0.0 } }));
        Assert.That(wrongDim!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        var badName = Assert.ThrowsAsync<RpcException>(() => Act(c, "index-upsert", new { adapter = "../x", vector = new[] { 1.0, 0.0, 0.0 } }));
        Assert.That(badName!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));

        // The index as a flight: adapter utf8, embedding fixed_size_list<float32>[3].
        var flights = await c.ListFlightsAsync();
        var info = flights.Single(f => f.FlightDescriptor.Path.Count == 1 && f.FlightDescriptor.Path[0] == "index");
        Assert.That(info.TotalRecords, Is.EqualTo(3));
        var schema = await c.GetSchemaAsync(info.FlightDescriptor);
        Assert.That(schema.GetFieldByIndex(1).DataType, Is.TypeOf<Apache.Arrow.Types.FixedSizeListType>());
        Assert.That(((Apache.Arrow.Types.FixedSizeListType)schema.GetFieldByIndex(1).DataType).ListSize, Is.EqualTo(3));
        Assert.That(((Apache.Arrow.Types.FixedSizeListType)schema.GetFieldByIndex(1).DataType).ValueDataType, Is.TypeOf<Apache.Arrow.Types.FloatType>());
        var rows = new Dictionary<string, float[]>();
        await foreach (var batch in c.DoGetAsync(info.Endpoint[0].Ticket))
        {
            var emb = ((Apache.Arrow.FloatArray)((Apache.Arrow.FixedSizeListArray)batch.Column(1)).Values).Values;
            for (int i = 0; i < batch.Length; i++) rows[((Apache.Arrow.StringArray)batch.Column(0)).GetString(i)] = emb.Slice(i * 3, 3).ToArray();
        }
        Assert.That(rows.Keys, Is.EquivalentTo(new[] { "math", "code", "poetry" }));
        Assert.That(rows["code"], Is.EqualTo(new[] { 0f, 1f, 0f }));

        var removed = await Act(c, "index-remove", new { adapter = "math" });
        Assert.That(removed.GetProperty("removed").GetBoolean(), Is.True);

        // A new server over the same data directory finds the index again.
        var dir = s.Dir.Path;
        await s.Host.DisposeAsync();
        await using var host = await Hyprstream.Service.FlightServiceHost.StartAsync(new Hyprstream.Service.FlightServiceOptions
        {
            DataDirectory = dir,
            Listen = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0),
        });
        using var c2 = new Hyprstream.Flight.Rpc.FlightClient(host.Address);
        var again = await Act(c2, "search", new { vector = new[] { 0.9, 0.1, 0.0 }, k = 1 });
        Assert.That(again.GetProperty("results")[0].GetProperty("adapter").GetString(), Is.EqualTo("code"));
    }

    [Test]
    public async Task IndexConfig_TunesTheIndex_RebuildsForANewM_AndStatsReportIt()
    {
        await using var s = await FlightServer.StartAsync();
        var c = s.Client;
        var none = Assert.ThrowsAsync<RpcException>(() => Act(c, "index-config", new { ef_search = 10 }));
        Assert.That(none!.StatusCode, Is.EqualTo(StatusCode.NotFound));
        var rng = new Random(5);
        for (int i = 0; i < 40; i++)
        {
            await Hyprstream.Tests.Hardening.Hostile.Put(c, $"r{i}");
            await Act(c, "index-upsert", new { adapter = $"r{i}", vector = new[] { rng.NextDouble(), rng.NextDouble(), rng.NextDouble(), rng.NextDouble() }, metric = "l2" });
        }
        var config = await Act(c, "index-config", new { ef_search = 99, ef_construction = 50, M = 6, wait = true });
        Assert.That(config.GetProperty("M").GetInt32(), Is.EqualTo(6));
        Assert.That(config.GetProperty("ef_search").GetInt32(), Is.EqualTo(99));
        Assert.That(config.GetProperty("ef_construction").GetInt32(), Is.EqualTo(50));
        Assert.That(config.GetProperty("rebuilding").GetBoolean(), Is.False);
        Assert.That(config.GetProperty("rebuilds").GetInt64(), Is.EqualTo(1));
        Assert.That(config.GetProperty("count").GetInt32(), Is.EqualTo(40));
        Assert.That(config.GetProperty("home").GetString(), Is.EqualTo("store"));

        var stats = await Act(c, "stats");
        Assert.That(stats.GetProperty("index").GetProperty("M").GetInt32(), Is.EqualTo(6));
        Assert.That(stats.GetProperty("index").GetProperty("ef_search").GetInt32(), Is.EqualTo(99));
        var found = await Act(c, "search", new { vector = new[] { 0.5, 0.5, 0.5, 0.5 }, k = 40 });
        Assert.That(found.GetProperty("results").GetArrayLength(), Is.EqualTo(40));

        foreach (var bad in new object[] { new { M = 1 }, new { ef_search = 0 }, new { eff = 3 }, new { M = 2.5 }, new { wait = "yes" } })
        {
            var e = Assert.ThrowsAsync<RpcException>(() => Act(c, "index-config", bad));
            Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), JsonSerializer.Serialize(bad));
        }
        Assert.That((await Act(c, "stats")).GetProperty("index").GetProperty("M").GetInt32(), Is.EqualTo(6), "refused settings change nothing");

        // Kept across a restart (the index's settings file), with the store's embeddings.
        var dir = s.Dir.Path;
        await s.Host.DisposeAsync();
        await using var host = await Hyprstream.Service.FlightServiceHost.StartAsync(new Hyprstream.Service.FlightServiceOptions
        {
            DataDirectory = dir,
            Listen = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0),
        });
        using var c2 = new Hyprstream.Flight.Rpc.FlightClient(host.Address);
        var again = (await Act(c2, "stats")).GetProperty("index");
        Assert.That((again.GetProperty("M").GetInt32(), again.GetProperty("ef_search").GetInt32(), again.GetProperty("count").GetInt32()), Is.EqualTo((6, 99, 40)));

        // Deleting an adapter takes its embedding along.
        await Act(c2, "delete", new { adapter = "r3" });
        var after = await Act(c2, "search", new { vector = new[] { 0.5, 0.5, 0.5, 0.5 }, k = 40 });
        Assert.That(after.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("adapter").GetString()).ToList(), Has.No.Member("r3").And.Count.EqualTo(39));
    }
}

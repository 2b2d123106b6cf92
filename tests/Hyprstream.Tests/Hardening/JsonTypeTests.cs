using Grpc.Core;
using Hyprstream.Flight;
using Hyprstream.Service;
using Hyprstream.Tests.Service;
using static Hyprstream.Tests.Service.FlightPutTests;
using static Hyprstream.Tests.Service.FlightServiceTests;
using static Hyprstream.Tests.Hardening.Hostile;

namespace Hyprstream.Tests.Hardening;

/// <summary>
/// A JSON field of the wrong type (or a non-integer where an integer is expected) is INVALID_ARGUMENT naming the
/// field, for every field of every action and of the DoPut CMD — never FAILED_PRECONDITION or INTERNAL.
/// </summary>
[TestFixture]
public sealed class JsonTypeTests
{
    /// <summary>(action, body, the field the message must name). Adapters "a" and "b" exist and the index holds "a".</summary>
    private static readonly (string Action, string Body, string Field)[] Actions =
    [
        ("merge", """{"target":7,"source":"b"}""", "target"),
        ("merge", """{"target":"a","source":["b"]}""", "source"),
        ("merge", """{"target":"a","source":"b","scale":"2"}""", "scale"),
        ("merge", """{"target":"a","source":"b","scale":true}""", "scale"),
        ("merge", """{"target":"a","source":"b","scale":1e300}""", "scale"),
        ("fuse", """{"name":7,"sources":["a"],"weights":[1]}""", "name"),
        ("fuse", """{"name":"c","sources":"a","weights":[1]}""", "sources"),
        ("fuse", """{"name":"c","sources":[1],"weights":[1]}""", "sources[0]"),
        ("fuse", """{"name":"c","sources":["a"],"weights":["x"]}""", "weights[0]"),
        ("fuse", """{"name":"c","sources":["a"],"weights":{"a":1}}""", "weights"),
        ("fuse", """{"name":"c","sources":["a"],"weights":[null]}""", "weights[0]"),
        ("fuse", """{"name":"c","sources":["a","b"],"weights":[1]}""", "weights"),
        ("prune", """{"tolerance":0.1}""", "adapter"),
        ("prune", """{"adapter":"a","tolerance":"0.1"}""", "tolerance"),
        ("prune", """{"adapter":"a","tolerance":[0.1]}""", "tolerance"),
        ("keep-top", """{"adapter":"a","fraction":0.5,"structure":7}""", "structure"),
        ("keep-top", """{"adapter":"a","fraction":"0.5"}""", "fraction"),
        ("keep-top", """{"adapter":{},"fraction":0.5}""", "adapter"),
        ("save", """{"adapter":7}""", "adapter"),
        ("delete", """{"adapter":["a"]}""", "adapter"),
        ("load", """{"adapter":true}""", "adapter"),
        ("unload", """{"adapter":1.5}""", "adapter"),
        ("pin", """{"adapter":{}}""", "adapter"),
        ("unpin", """{"adapter":[]}""", "adapter"),
        ("prefetch", """{"adapter":0}""", "adapter"),
        ("stats", """{"adapter":7}""", "adapter"),
        ("index-upsert", """{"adapter":7,"vector":[1,0]}""", "adapter"),
        ("index-upsert", """{"adapter":"b","vector":"1,0"}""", "vector"),
        ("index-upsert", """{"adapter":"b","vector":["x",0]}""", "vector[0]"),
        ("index-upsert", """{"adapter":"b","vector":[1,0],"tags":"t"}""", "tags"),
        ("index-upsert", """{"adapter":"b","vector":[1,0],"tags":[1]}""", "tags[0]"),
        ("index-upsert", """{"adapter":"b","vector":[1,0],"metric":5}""", "metric"),
        ("index-remove", """{"adapter":1}""", "adapter"),
        ("search", """{"vector":[true,0]}""", "vector[0]"),
        ("search", """{"vector":[1,0],"k":"3"}""", "k"),
        ("search", """{"vector":[1,0],"k":1.5}""", "k"),
        ("search", """{"vector":[1,0],"k":1e30}""", "k"),
        ("search", """{"vector":[1,0],"k":0}""", "k"),
        ("search", """{"vector":[1,0],"ef":"x"}""", "ef"),
        ("search", """{"vector":[1,0],"ef":2.5}""", "ef"),
        ("search", """{"vector":[1,0],"metric":1}""", "metric"),
        ("search", """{"vector":[1,0],"filter":[]}""", "filter"),
        ("search", """{"vector":[1,0],"filter":{"tags":[1]}}""", "filter.tags[0]"),
        ("search", """{"vector":[1,0],"filter":{"any":"x"}}""", "filter.any"),
        ("search", """{"vector":[1,0],"filter":{"tenant":5}}""", "filter.tenant"),
    ];

    [Test]
    public async Task EveryActionField_OfTheWrongType_IsInvalidArgument_NamingTheField()
    {
        await using var s = await ServerWithAdapters();
        await Ok(s.Client, "index-upsert", """{"adapter":"a","vector":[1,0]}""");
        var wrong = new List<string>();
        foreach (var (action, body, field) in Actions)
        {
            var e = await Fails(s.Client, action, body);
            if (e.StatusCode != StatusCode.InvalidArgument || !e.Status.Detail.Contains($"\"{field}\"", StringComparison.Ordinal))
                wrong.Add($"{action} {body}: {e.Status} {e.Status.Detail}");
        }
        Assert.That(wrong, Is.Empty);
        // Nothing was changed by the refused calls.
        var stats = await Ok(s.Client, "stats");
        Assert.That(stats.GetProperty("adapters").GetInt32(), Is.EqualTo(2));
        Assert.That(stats.GetProperty("active_weights").GetInt64(), Is.EqualTo(4));
    }

    [Test]
    public async Task BodiesThatAreNotObjects_AreInvalidArgument()
    {
        await using var s = await ServerWithAdapters();
        foreach (var body in new[] { "[1]", "7", "\"a\"", "null", "{", "{\"adapter\":\"a\",}", new string('[', 5000) })
        {
            var e = await Fails(s.Client, "save", body);
            Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), body);
            AssertShortAndPrintable(e.Status.Detail);
        }
    }

    [Test]
    public async Task Tickets_WithAModuleOfTheWrongType_OrBrokenText_AreInvalidArgument()
    {
        await using var s = await ServerWithAdapters();
        foreach (var ticket in new[] { """{"adapter":"a","module":7}""", """{"adapter":"a","module":["x"]}""", """{"adapter":"x\ud800"}""", """{"adapter":"a","module":"\udc00"}""" })
        {
            var e = Assert.ThrowsAsync<RpcException>(async () =>
            {
                await foreach (var _ in s.Client.DoGetAsync(new Hyprstream.Flight.Protocol.Ticket { Ticket_ = Google.Protobuf.ByteString.CopyFromUtf8(ticket) })) { }
            })!;
            Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), ticket + ": " + e.Status.Detail);
        }
        var ok = await ReadAll(s.Client, new Hyprstream.Flight.Protocol.Ticket { Ticket_ = Google.Protobuf.ByteString.CopyFromUtf8("""{"adapter":"a","module":null}""") });
        Assert.That(ok, Has.Count.EqualTo(2), "a null module is the whole adapter");
    }

    private static readonly (object Cmd, string Field)[] PutCommands =
    [
        (new { adapter = 7 }, "adapter"),
        (new { adapter = "a", mode = 3 }, "mode"),
        (new { adapter = "a", create = "yes" }, "create"),
        (new { adapter = "a", create = 1 }, "create"),
        (new { adapter = "a", base_model = 3 }, "base_model"),
        (new { adapter = "a", modules = "x" }, "modules"),
        (new { adapter = "a", modules = new object[] { 1 } }, "modules[0]"),
        (new { adapter = "a", modules = new object[] { new { name = 5, rows = 64, cols = 128 } } }, "modules[0].name"),
        (new { adapter = "a", modules = new object[] { new { name = "m", rows = 1.5, cols = 128 } } }, "modules[0].rows"),
        (new { adapter = "a", modules = new object[] { new { name = "m", rows = "64", cols = 128 } } }, "modules[0].rows"),
        (new { adapter = "a", modules = new object[] { new { name = "m", rows = 64 } } }, "modules[0].cols"),
        (new { adapter = "a", modules = new object[] { new { name = "m", rows = 64, cols = 1e12 } } }, "modules[0].cols"),
        (new { adapter = "a", modules = new object[] { new { name = "m", rows = 64, cols = 128, scale = "x" } } }, "modules[0].scale"),
        (new { adapter = "a", modules = new object[] { new { name = "m", rows = 64, cols = 128, scale = 1e300 } } }, "modules[0].scale"),
    ];

    [Test]
    public async Task DoPutCmd_FieldsOfTheWrongType_AreInvalidArgument_NamingTheField()
    {
        await using var s = await ServerWithAdapters();
        var wrong = new List<string>();
        foreach (var (cmd, field) in PutCommands)
        {
            try
            {
                await s.Client.DoPutAsync(Cmd(cmd), RowSchema, [(Batch((Q, 5, 5, 1f)), null)]);
                wrong.Add($"{field}: accepted");
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.InvalidArgument && e.Status.Detail.Contains($"\"{field}\"", StringComparison.Ordinal)) { }
            catch (RpcException e) { wrong.Add($"{field}: {e.Status} {e.Status.Detail}"); }
        }
        Assert.That(wrong, Is.Empty);
        var got = await ReadAll(s.Client, (await s.Client.GetFlightInfoAsync(Path("adapters", "a"))).Endpoint[0].Ticket);
        Assert.That(got, Has.Count.EqualTo(2), "no refused put wrote anything");
    }
}

using Grpc.Core;
using Hyprstream.Flight;
using Hyprstream.Runtime;
using Hyprstream.Service;
using Hyprstream.Tests.Service;
using static Hyprstream.Tests.Service.FlightPutTests;
using static Hyprstream.Tests.Service.FlightServiceTests;
using static Hyprstream.Tests.Hardening.Hostile;

namespace Hyprstream.Tests.Hardening;

/// <summary>
/// Adapter names are limited in UTF-8 bytes (file systems count bytes) and refuse invisible characters that make a
/// name read as something else; module names follow the same character rules with a larger limit.
/// </summary>
[TestFixture]
public sealed class NameRuleTests
{
    private static string Refused(string name) => Assert.Throws<ArgumentException>(() => AdapterNames.ValidateAdapter(name))!.Message;

    [Test]
    public void AdapterNames_CountBytes_AndRefuseFormatCharactersAndBrokenText()
    {
        Assert.That(Refused(string.Concat(Enumerable.Repeat("€", 200))), Does.Contain("600 bytes").And.Contain("limit is 200 bytes"));
        Assert.That(AdapterNames.ValidateAdapter(string.Concat(Enumerable.Repeat("€", 66))), Has.Length.EqualTo(66), "198 bytes is fine");
        Assert.That(Refused(string.Concat(Enumerable.Repeat("€", 67))), Does.Contain("201 bytes"));
        Assert.That(AdapterNames.ValidateAdapter(new string('a', 200)), Has.Length.EqualTo(200));
        Assert.That(Refused(new string('a', 201)), Does.Contain("200 bytes"));
        Assert.That(Refused(new string('a', 300_000)), Has.Length.LessThan(400), "the message quotes a bounded prefix");
        foreach (var bidi in new[] { '\u202A', '\u202B', '\u202C', '\u202D', '\u202E', '\u2066', '\u2067', '\u2068', '\u2069', '\u200E', '\u200F' })
            Assert.That(Refused($"invoice{bidi}fdp.vdb"), Does.Contain("bidirectional control").And.Contain($"U+{(int)bidi:X4}"));
        foreach (var cf in new[] { "\u200B", "\u200D", "\uFEFF", "\u00AD", "\U000E0041" })
            Assert.That(Refused("a" + cf + "b"), Does.Contain("format character"), $"U+{char.ConvertToUtf32(cf, 0):X4}");
        Assert.That(Refused("a\uD800b"), Does.Contain("unpaired"));
        Assert.That(Refused("a\uDC00"), Does.Contain("unpaired"));
        Assert.That(AdapterNames.ValidateAdapter("adapter-🙂-ünïcödé"), Is.EqualTo("adapter-🙂-ünïcödé"), "ordinary Unicode, pairs included");
        Assert.That(Refused("a/b"), Does.Contain("path separators"));
        Assert.That(Refused(".hidden"), Does.Contain("start with '.'"));
    }

    [Test]
    public void ModuleNames_FollowTheSameCharacterRules_WithA1024ByteLimit()
    {
        Assert.That(AdapterNames.MaxModuleLength, Is.EqualTo(1024));
        Assert.That(AdapterNames.ValidateModule(new string('m', 1024)), Has.Length.EqualTo(1024));
        Assert.That(Assert.Throws<ArgumentException>(() => AdapterNames.ValidateModule(string.Concat(Enumerable.Repeat("€", 342))))!.Message,
            Does.Contain("1026 bytes"));
        Assert.That(Assert.Throws<ArgumentException>(() => AdapterNames.ValidateModule("q_proj\u202Ejorp_v"))!.Message, Does.Contain("bidirectional"));
        Assert.That(Assert.Throws<ArgumentException>(() => AdapterNames.ValidateModule("q\uD800"))!.Message, Does.Contain("unpaired"));
        Assert.That(Assert.Throws<ArgumentException>(() => AdapterNames.ValidateModule("q\u200B"))!.Message, Does.Contain("format character"));
    }

    [Test]
    public async Task Service_RefusesBadNames_AtEveryEntry_AndSavesTheLongestGoodOne()
    {
        await using var s = await ServerWithAdapters("a");
        var euro200 = string.Concat(Enumerable.Repeat("€", 200));
        // DoPut (CMD and PATH), actions, GetFlightInfo, tickets: all INVALID_ARGUMENT, none creates anything.
        foreach (var bad in new[] { euro200, "evil\u202Eexe", "a\u200Bb" })
        {
            var e = Assert.ThrowsAsync<RpcException>(() => s.Client.DoPutAsync(Cmd(CreateCmd(bad)), RowSchema, [(Batch((Q, 0, 0, 1f)), null)]))!;
            Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), e.Status.Detail);
            AssertShortAndPrintable(e.Status.Detail);
            e = Assert.ThrowsAsync<RpcException>(() => s.Client.DoPutAsync(Path("adapters", bad), RowSchema, [(Batch((Q, 0, 0, 1f)), null)]))!;
            Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), e.Status.Detail);
            e = Assert.ThrowsAsync<RpcException>(() => s.Client.GetFlightInfoAsync(Path("adapters", bad)))!;
            Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), e.Status.Detail);
            var body = System.Text.Json.JsonSerializer.Serialize(new { name = bad, sources = new[] { "a" }, weights = new[] { 1.0 } });
            e = await Fails(s.Client, "fuse", body);
            Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), e.Status.Detail);
            e = await Fails(s.Client, "save", System.Text.Json.JsonSerializer.Serialize(new { adapter = bad }));
            Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), e.Status.Detail);
        }
        // An unpaired surrogate can only arrive escaped in JSON (protobuf strings and our serializer turn it into
        // U+FFFD): INVALID_ARGUMENT, not a crash.
        var raw = new Hyprstream.Flight.Protocol.FlightDescriptor
        {
            Type = Hyprstream.Flight.Protocol.FlightDescriptor.Types.DescriptorType.Cmd,
            Cmd = Google.Protobuf.ByteString.CopyFromUtf8("{\"adapter\":\"x\\ud800\",\"create\":true}"),
        };
        var u = Assert.ThrowsAsync<RpcException>(() => s.Client.DoPutAsync(raw, RowSchema, [(Batch((Q, 0, 0, 1f)), null)]))!;
        Assert.That(u.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), u.Status.Detail);
        u = await Fails(s.Client, "save", "{\"adapter\":\"x\\ud800\"}");
        Assert.That(u.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), u.Status.Detail);
        // A bad module name in a put: INVALID_ARGUMENT too.
        var m = Assert.ThrowsAsync<RpcException>(() => s.Client.DoPutAsync(Path("adapters", "a"), RowSchema, [(Batch(("q\u202Ep", 0, 0, 1f)), null)]))!;
        Assert.That(m.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), m.Status.Detail);

        // The longest good name (198 bytes) goes all the way to a file.
        var euro66 = string.Concat(Enumerable.Repeat("€", 66));
        await Put(s.Client, euro66);
        var saved = await Ok(s.Client, "save", System.Text.Json.JsonSerializer.Serialize(new { adapter = euro66 }));
        Assert.That(File.Exists(s.Dir.File(euro66 + ".vdb")), Is.True);
        Assert.That(saved.GetProperty("bytes").GetInt64(), Is.GreaterThan(0));
        var stats = await Ok(s.Client, "stats");
        Assert.That(stats.GetProperty("adapters").GetInt32(), Is.EqualTo(2));
    }

    [Test]
    public async Task Cli_RefusesBadNames_BeforeDoingAnything()
    {
        using var dir = new TempDir();
        var index = dir.File("idx");
        var (code, _, err) = await ServeProcess.RunAsync(["index", "add", "--index", index, string.Concat(Enumerable.Repeat("€", 200)), "--vector", "1,0"]);
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(err, Does.Contain("600 bytes"));
        (code, _, err) = await ServeProcess.RunAsync(["index", "add", "--index", index, "a\u202Eb", "--vector", "1,0"]);
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(err, Does.Contain("bidirectional"));
        Assert.That(Directory.Exists(index), Is.False, "no index was created");
        (code, _, err) = await ServeProcess.RunAsync(["index", "add", "--index", index, "a", "--vector", "1e39,0"]);
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(err, Does.Contain("finite"));
    }
}

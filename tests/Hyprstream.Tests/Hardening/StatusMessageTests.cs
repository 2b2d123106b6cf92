using System.Text;
using Hyprstream.Flight.Rpc;
using Grpc.Core;
using Hyprstream.Flight;
using Hyprstream.Service;
using Hyprstream.Tests.Service;
using static Hyprstream.Tests.Service.FlightPutTests;
using static Hyprstream.Tests.Service.FlightServiceTests;
using static Hyprstream.Tests.Hardening.Hostile;

namespace Hyprstream.Tests.Hardening;

/// <summary>
/// Client text in status messages: a 200 KB string sent by a client must come back as a short INVALID_ARGUMENT, and
/// the same connection must go on serving (an unbounded grpc-message header used to kill the HTTP/2 connection).
/// </summary>
[TestFixture]
public sealed class StatusMessageTests
{
    private static readonly string Huge = new('x', 200_000);

    [Test]
    public async Task HugeActionType_IsShortInvalidArgument_AndTheSameClientServesNextCall()
    {
        await using var s = await ServerWithAdapters();
        var e = await Fails(s.Client, Huge, "{}");
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        AssertShortAndPrintable(e.Status.Detail);
        Assert.That(e.Status.Detail, Does.Contain("unknown action").And.Contain("200000 characters"));
        // Same FlightClient, so the same HTTP/2 connection.
        var stats = await Ok(s.Client, "stats");
        Assert.That(stats.GetProperty("adapters").GetInt32(), Is.EqualTo(2));
    }

    [Test]
    public async Task HugeDoPutMode_IsShortInvalidArgument_AndTheSameClientServesNextCall()
    {
        await using var s = await ServerWithAdapters();
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            var e = Assert.ThrowsAsync<RpcException>(() => s.Client.DoPutAsync(Path("adapters", "a"), RowSchema,
                [(Batch((Q, 3, 3, 1f)), Encoding.UTF8.GetBytes(Huge))], ct: cts.Token))!;
            Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
            AssertShortAndPrintable(e.Status.Detail);
            Assert.That(e.Status.Detail, Does.Contain("mode").And.Contain("200000 characters"));
        }
        // The mode in the CMD descriptor too.
        var e2 = Assert.ThrowsAsync<RpcException>(() => s.Client.DoPutAsync(Cmd(new { adapter = "a", mode = Huge }), RowSchema,
            [(Batch((Q, 3, 3, 1f)), null)]))!;
        Assert.That(e2.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        AssertShortAndPrintable(e2.Status.Detail);
        // The same client goes on: a put and a read.
        await s.Client.DoPutAsync(Path("adapters", "a"), RowSchema, [(Batch((Q, 3, 3, 5f)), null)]);
        var got = await ReadAll(s.Client, (await s.Client.GetFlightInfoAsync(Path("adapters", "a"))).Endpoint[0].Ticket);
        Assert.That(got[(Q, 3, 3)], Is.EqualTo(5f));
    }

    [Test]
    public async Task HugeNamesAndModules_InPathsAndTickets_GetShortMessages()
    {
        await using var s = await ServerWithAdapters();
        var e = Assert.ThrowsAsync<RpcException>(() => s.Client.GetFlightInfoAsync(Path("adapters", Huge)))!;
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        AssertShortAndPrintable(e.Status.Detail);
        e = Assert.ThrowsAsync<RpcException>(() => s.Client.GetFlightInfoAsync(Path("adapters", "a", Huge)))!;
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.NotFound));
        AssertShortAndPrintable(e.Status.Detail);
        e = await Fails(s.Client, "save", $"{{\"adapter\":\"{Huge}\"}}");
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        AssertShortAndPrintable(e.Status.Detail);
        e = await Fails(s.Client, "keep-top", $"{{\"adapter\":\"a\",\"fraction\":0.5,\"structure\":\"{Huge}\"}}");
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        AssertShortAndPrintable(e.Status.Detail);
        await Ok(s.Client, "stats");
    }

    [Test]
    public async Task ControlAndBidiCharacters_AreStrippedFromMessages()
    {
        await using var s = await ServerWithAdapters();
        var e = await Fails(s.Client, "evil\r\ngrpc-status: 0\u202Egnp.exe\u0000", "{}");
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        AssertShortAndPrintable(e.Status.Detail);
        Assert.That(e.Status.Detail, Does.Contain("evil"));
        await Ok(s.Client, "stats");
    }

    [Test]
    public void StatusText_BoundsAndQuotes()
    {
        var bounded = StatusText.Bound("x: " + new string('€', 100_000));
        Assert.That(Encoding.UTF8.GetByteCount(bounded), Is.LessThanOrEqualTo(StatusText.MaxBytes));
        Assert.That(bounded, Does.EndWith("(100003 characters in all)"));
        Assert.That(StatusText.Bound("short\tone\u200B"), Is.EqualTo("short one\uFFFD"));
        Assert.That(StatusText.Quote("abc"), Is.EqualTo("'abc'"));
        Assert.That(StatusText.Quote(Huge), Is.EqualTo($"'{new string('x', StatusText.QuoteChars)}…' (200000 characters)"));
        Assert.That(StatusText.Quote("\uD83D\uDE42ok"), Is.EqualTo("'\uD83D\uDE42ok'"), "a surrogate pair survives");
        Assert.That(StatusText.Quote("a\uD800b"), Is.EqualTo("'a\uFFFDb'"), "an unpaired surrogate does not");
    }
}

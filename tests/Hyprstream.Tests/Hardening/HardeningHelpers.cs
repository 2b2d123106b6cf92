using System.Text;
using System.Text.Json;
using Hyprstream.Flight.Rpc;
using Grpc.Core;
using Hyprstream.Flight;
using Hyprstream.Service;
using Hyprstream.Tests.Service;
using static Hyprstream.Tests.Service.FlightPutTests;
using static Hyprstream.Tests.Service.FlightServiceTests;

namespace Hyprstream.Tests.Hardening;

/// <summary>Shared by the adversarial suite: a server with adapters, raw actions with a deadline, status checks.</summary>
internal static class Hostile
{
    public const string Q = "model.layers.0.self_attn.q_proj";

    /// <summary>A server holding adapters "a" and "b" (two weights each).</summary>
    public static async Task<FlightServer> ServerWithAdapters(params string[] names)
    {
        var s = await FlightServer.StartAsync();
        foreach (var n in names.Length == 0 ? ["a", "b"] : names) await Put(s.Client, n);
        return s;
    }

    public static Task Put(FlightClient c, string name) =>
        c.DoPutAsync(Cmd(CreateCmd(name)), RowSchema, [(Batch((Q, 0, 0, 1f), (Q, 1, 1, 2f)), null)]);

    /// <summary>One DoAction with a raw body and a 30 s limit: a call that never ends fails the test instead of hanging it.</summary>
    public static async Task<List<byte[]>> Raw(FlightClient c, string type, string? body)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try { return await c.DoActionAsync(type, body == null ? null : Encoding.UTF8.GetBytes(body), cts.Token); }
        catch (Exception e) when (e is not RpcException && cts.IsCancellationRequested)
        {
            throw new AssertionException($"action {type[..Math.Min(type.Length, 40)]} got no status within 30 s: {e.GetType().Name}");
        }
    }

    /// <summary>The status of an action that must fail.</summary>
    public static async Task<RpcException> Fails(FlightClient c, string type, string? body)
    {
        try { await Raw(c, type, body); }
        catch (RpcException e) { return e; }
        throw new AssertionException($"action {type} with {body} succeeded");
    }

    public static async Task<JsonElement> Ok(FlightClient c, string type, string? body = null)
    {
        var r = await Raw(c, type, body);
        Assert.That(r, Has.Count.EqualTo(1));
        return JsonDocument.Parse(r[0]).RootElement.Clone();
    }

    /// <summary>A status message as a client sees it: short and printable.</summary>
    public static void AssertShortAndPrintable(string detail)
    {
        Assert.That(Encoding.UTF8.GetByteCount(detail), Is.LessThanOrEqualTo(StatusText.MaxBytes), detail[..Math.Min(200, detail.Length)]);
        Assert.That(detail.Any(char.IsControl), Is.False, detail);
        Assert.That(detail.Any(ch => System.Globalization.CharUnicodeInfo.GetUnicodeCategory(ch) == System.Globalization.UnicodeCategory.Format), Is.False, detail);
    }
}

using System.Globalization;
using System.Text;
using Grpc.Core;
using Hyprstream.Flight;
using static Hyprstream.Tests.Hardening.Hostile;

namespace Hyprstream.Tests.Hardening;

/// <summary>
/// A seeded fuzz of the DoAction surface: for every action type, bodies whose known fields hold random JSON values
/// of random types, plus unknown fields, huge strings, deep nesting and broken JSON. Every reply must be OK or a
/// client error (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION) with a short printable message —
/// never INTERNAL, UNKNOWN or no status — and the server must still answer afterwards.
/// </summary>
[TestFixture]
public sealed class ActionFuzzTests
{
    private static readonly Dictionary<string, string[]> Fields = new()
    {
        ["merge"] = ["target", "source", "scale"],
        ["fuse"] = ["name", "sources", "weights"],
        ["prune"] = ["adapter", "tolerance"],
        ["keep-top"] = ["adapter", "fraction", "structure"],
        ["save"] = ["adapter"],
        ["delete"] = ["adapter"],
        ["stats"] = ["adapter"],
        ["load"] = ["adapter"],
        ["unload"] = ["adapter"],
        ["pin"] = ["adapter"],
        ["unpin"] = ["adapter"],
        ["prefetch"] = ["adapter"],
        ["checkpoint"] = [],
        ["rescan"] = [],
        ["index-upsert"] = ["adapter", "vector", "tags", "metric"],
        ["index-remove"] = ["adapter"],
        ["search"] = ["vector", "k", "metric", "ef", "filter"],
    };

    private static readonly StatusCode[] Allowed =
        [StatusCode.InvalidArgument, StatusCode.NotFound, StatusCode.AlreadyExists, StatusCode.FailedPrecondition];

    [Test]
    public async Task RandomActionBodies_GetOkOrAClientError_AndTheServerKeepsServing()
    {
        const int Calls = 400;
        var rng = new Random(20261129);
        await using var s = await ServerWithAdapters("a", "b", "c");
        await Ok(s.Client, "index-upsert", """{"adapter":"a","vector":[0.1,0.2]}""");
        var bad = new List<string>();
        var seen = new Dictionary<string, int>();
        for (int i = 0; i < Calls; i++)
        {
            var types = Fields.Keys.ToArray();
            string type = rng.Next(20) == 0 ? RandomString(rng) : types[rng.Next(types.Length)];
            string body = Body(rng, Fields.TryGetValue(type, out var f) ? f : ["adapter"]);
            try
            {
                await Raw(s.Client, type, body);
                seen["OK"] = seen.GetValueOrDefault("OK") + 1;
            }
            catch (RpcException e)
            {
                seen[e.StatusCode.ToString()] = seen.GetValueOrDefault(e.StatusCode.ToString()) + 1;
                if (!Allowed.Contains(e.StatusCode) || Encoding.UTF8.GetByteCount(e.Status.Detail) > StatusText.MaxBytes || e.Status.Detail.Any(char.IsControl))
                    bad.Add($"#{i} {Cut(type)} {Cut(body)} -> {e.Status}: {e.Status.Detail}");
            }
        }
        TestContext.Out.WriteLine(string.Join(", ", seen.Select(kv => $"{kv.Key} {kv.Value}")));
        Assert.That(bad, Is.Empty);
        var stats = await Ok(s.Client, "stats");
        Assert.That(stats.GetProperty("adapters").GetInt32(), Is.GreaterThanOrEqualTo(0));
        Assert.That(seen.GetValueOrDefault("OK"), Is.GreaterThan(0), "some calls should get through");
    }

    private static string Cut(string s) => s.Length > 120 ? s[..120] + "…" : s;

    /// <summary>A JSON body (or, now and then, something that is not a JSON object at all).</summary>
    private static string Body(Random rng, string[] fields)
    {
        switch (rng.Next(25))
        {
            case 0: return "";
            case 1: return new string('[', rng.Next(50, 3000)) + new string(']', rng.Next(0, 3000));
            case 2: return "{\"adapter\":" + new string('{', 200) + "}";
            case 3: return Value(rng, 0);
            case 4: return Encoding.Latin1.GetString(Enumerable.Range(0, rng.Next(1, 64)).Select(_ => (byte)rng.Next(256)).ToArray());
        }
        var parts = new List<string>();
        foreach (var f in fields)
            if (rng.Next(5) != 0) parts.Add($"{Str(f)}:{FieldValue(rng, f)}");
        for (int n = rng.Next(3); n > 0; n--) parts.Add($"{Str(RandomString(rng))}:{Value(rng, 0)}");
        if (rng.Next(15) == 0 && parts.Count > 0) parts.Add(parts[0]); // a duplicate key
        return "{" + string.Join(",", parts.OrderBy(_ => rng.Next())) + "}";
    }

    /// <summary>Half the time a plausible value for the field, else anything.</summary>
    private static string FieldValue(Random rng, string field)
    {
        if (rng.Next(2) == 0) return Value(rng, 0);
        return field switch
        {
            "adapter" or "target" or "source" or "name" => Str(Pick(rng, "a", "b", "c", "d", "ghost", ".x", "a/b", "é€", "x\u202Ey", new string('n', 300))),
            "sources" or "tags" => "[" + string.Join(",", Enumerable.Range(0, rng.Next(4)).Select(_ => Str(Pick(rng, "a", "b", "c", "t", "")))) + "]",
            "weights" or "vector" => "[" + string.Join(",", Enumerable.Range(0, rng.Next(4)).Select(_ => Number(rng))) + "]",
            "metric" => Str(Pick(rng, "cosine", "l2", "poincare", "hamming")),
            "structure" => Str(Pick(rng, "tile", "unstructured", "diagonal")),
            "filter" => "{" + Str(Pick(rng, "tags", "any", "tenant")) + ":" + (rng.Next(2) == 0 ? "[\"t\"]" : Value(rng, 1)) + "}",
            _ => Number(rng),
        };
    }

    private static string Value(Random rng, int depth)
    {
        switch (rng.Next(depth > 3 ? 6 : 9))
        {
            case 0: return "null";
            case 1: return rng.Next(2) == 0 ? "true" : "false";
            case 2: case 3: return Number(rng);
            case 4: return Str(RandomString(rng));
            case 5: return Str(Pick(rng, "a", "b", "c"));
            case 6: return "[" + string.Join(",", Enumerable.Range(0, rng.Next(4)).Select(_ => Value(rng, depth + 1))) + "]";
            case 7: return "{" + string.Join(",", Enumerable.Range(0, rng.Next(3)).Select(_ => $"{Str(RandomString(rng))}:{Value(rng, depth + 1)}")) + "}";
            default: return new string('[', 40) + "1" + new string(']', 40);
        }
    }

    private static string Number(Random rng) => rng.Next(10) switch
    {
        0 => "0",
        1 => "-1",
        2 => "1e308",
        3 => "-1e-320",
        4 => "1.5",
        5 => "123456789012345678901234567890",
        6 => "0.25",
        7 => "2147483648",
        _ => (rng.NextDouble() * 4 - 2).ToString("R", CultureInfo.InvariantCulture),
    };

    private static string RandomString(Random rng) => rng.Next(12) switch
    {
        0 => new string('x', 100_000),
        1 => "\u202Eevil\u0000\r\n",
        2 => "",
        3 => "\uD83D\uDE42",
        _ => new string(Enumerable.Range(0, rng.Next(1, 12)).Select(_ => (char)rng.Next(32, 0x3000)).ToArray()),
    };

    private static T Pick<T>(Random rng, params T[] items) => items[rng.Next(items.Length)];

    private static string Str(string s) => System.Text.Json.JsonSerializer.Serialize(s);
}

using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Grpc.Core;
using Hyprstream.Flight.Protocol;
using Hyprstream.Flight.Rpc;
using Hyprstream.Service;
using static Hyprstream.Tests.Service.FlightActionAuthTests;
using static Hyprstream.Tests.Service.FlightPutTests;
using static Hyprstream.Tests.Service.FlightServiceTests;

namespace Hyprstream.Tests.Service;

/// <summary>
/// Tenants and roles on a real service: two writing tenants (acme, beta), a reader of acme, a tenant with nothing
/// (gamma) and an admin. A tenant sees only its own adapters, by its own names; another tenant's adapter answers
/// exactly as a missing one; the read role changes nothing; the admin sees every tenant under TENANT@name.
/// </summary>
[TestFixture]
public sealed class FlightTenantTests
{
    private const string Q = "model.layers.0.self_attn.q_proj";
    /// <summary>An adapter only acme has, and a name nobody has: beta's answers about both must read the same.</summary>
    private const string Theirs = "acme-secret", Missing = "no-such-one";

    private static readonly TokenGrant[] Grants =
    [
        new("acme-w", "acme", Role.Write),
        new("beta-w", "beta", Role.Write),
        new("acme-r", "acme", Role.Read),
        new("gamma-w", "gamma", Role.Write),
        new("root", null, Role.Admin),
    ];

    private sealed record Clients(FlightServer S, FlightClient Acme, FlightClient Beta, FlightClient Reader, FlightClient Gamma, FlightClient Admin);

    /// <summary>acme: "shared" (1 at 1,1) and acme-secret (saved to its .vdb too); beta: its own "shared" (2 at 2,2).</summary>
    private static async Task<Clients> StartAsync()
    {
        var s = await FlightServer.StartAsync(tokens: ["also-admin"], grants: Grants);
        var c = new Clients(s, s.ClientFor("acme-w"), s.ClientFor("beta-w"), s.ClientFor("acme-r"), s.ClientFor("gamma-w"), s.ClientFor("root"));
        await c.Acme.DoPutAsync(Cmd(CreateCmd("shared")), RowSchema, [(Batch((Q, 1, 1, 1f)), null)]);
        await c.Acme.DoPutAsync(Cmd(CreateCmd(Theirs)), RowSchema, [(Batch((Q, 3, 3, 3f), (Q, 4, 4, 4f)), null)]);
        await Act(c.Acme, "save", new { adapter = Theirs });
        await c.Beta.DoPutAsync(Cmd(CreateCmd("shared")), RowSchema, [(Batch((Q, 2, 2, 2f)), null)]);
        return c;
    }

    /// <summary>What a call answered, with <paramref name="name"/> written as NAME: "OK …" or "STATUS: detail".</summary>
    private static async Task<string> Answer(string name, Func<Task<string>> call)
    {
        try { return "OK " + (await call()).Replace(name, "NAME"); }
        catch (RpcException e) { return $"{e.StatusCode}: {e.Status.Detail.Replace(name, "NAME")}"; }
    }

    /// <summary>Beta's answer for acme's adapter equals its answer for a name that exists nowhere; returns it.</summary>
    private static async Task<string> SameAsMissing(string what, Func<string, Task<string>> call, string theirs = Theirs, string missing = Missing)
    {
        var forTheirs = await Answer(theirs, () => call(theirs));
        var forMissing = await Answer(missing, () => call(missing));
        Assert.That(forTheirs, Is.EqualTo(forMissing), $"{what}: another tenant's adapter must answer exactly as a missing one");
        return forTheirs;
    }

    private static async Task<string> Rows(FlightClient c, Ticket t)
    {
        long rows = 0;
        await foreach (var b in c.DoGetAsync(t)) rows += b.Length;
        return rows.ToString();
    }

    private static Ticket TicketOf(object json) => new() { Ticket_ = ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(json)) };

    private static List<string> Paths(IEnumerable<FlightInfo> flights) =>
        flights.Select(f => string.Join("/", f.FlightDescriptor.Path)).Order(StringComparer.Ordinal).ToList();

    [Test]
    public async Task ListFlights_ShowsATenantOnlyItsAdapters_ByItsNames_AndTheAdminEveryTenant()
    {
        var c = await StartAsync();
        await using var server = c.S;
        var acme = await c.Acme.ListFlightsAsync();
        Assert.That(Paths(acme), Is.EqualTo(new[]
        {
            $"adapters/{Theirs}", $"adapters/{Theirs}/{Q}", "adapters/shared", $"adapters/shared/{Q}",
            $"tiles/{Theirs}", $"tiles/{Theirs}/{Q}", "tiles/shared", $"tiles/shared/{Q}",
        }));
        Assert.That(Paths(await c.Reader.ListFlightsAsync()), Is.EqualTo(Paths(acme)), "a reader of acme sees acme");
        Assert.That(Paths(await c.Beta.ListFlightsAsync()), Is.EqualTo(new[] { "adapters/shared", $"adapters/shared/{Q}", "tiles/shared", $"tiles/shared/{Q}" }));
        Assert.That(await c.Gamma.ListFlightsAsync(), Is.Empty);

        // Tickets and app_metadata carry the tenant's names; the prefix criterion applies to them too.
        var whole = acme.Single(f => string.Join("/", f.FlightDescriptor.Path) == "adapters/shared");
        Assert.That(whole.Endpoint[0].Ticket.Ticket_.ToStringUtf8(), Is.EqualTo("{\"adapter\":\"shared\"}"));
        using (var meta = JsonDocument.Parse(whole.AppMetadata.Memory)) Assert.That(meta.RootElement.GetProperty("adapter").GetString(), Is.EqualTo("shared"));
        var prefixed = Paths(await c.Acme.ListFlightsAsync("acme-"u8.ToArray()));
        Assert.That(prefixed, Has.Count.EqualTo(4));
        Assert.That(prefixed, Has.All.Contain(Theirs));
        Assert.That(await c.Beta.ListFlightsAsync("acme"u8.ToArray()), Is.Empty, "beta's prefix search finds nothing of acme's");

        var admin = Paths(await c.Admin.ListFlightsAsync());
        Assert.That(admin, Does.Contain("adapters/acme@shared").And.Contain("adapters/beta@shared").And.Contain($"adapters/acme@{Theirs}"));
        Assert.That(admin, Has.Count.EqualTo(12));
        Assert.That(Paths(await c.Admin.ListFlightsAsync("beta@"u8.ToArray())), Has.Count.EqualTo(4));
    }

    [Test]
    public async Task Reads_OfOwnAdapters_UseTheTenantsNames_AndEachTenantReadsItsOwnData()
    {
        var c = await StartAsync();
        await using var server = c.S;
        var acmeInfo = await c.Acme.GetFlightInfoAsync(Path("adapters", "shared"));
        Assert.That(await ReadAll(c.Acme, acmeInfo.Endpoint[0].Ticket), Is.EquivalentTo(new Dictionary<(string, int, int), float> { [(Q, 1, 1)] = 1f }));
        Assert.That(await ReadAll(c.Beta, (await c.Beta.GetFlightInfoAsync(Path("adapters", "shared"))).Endpoint[0].Ticket),
            Is.EquivalentTo(new Dictionary<(string, int, int), float> { [(Q, 2, 2)] = 2f }));
        Assert.That(acmeInfo.FlightDescriptor.Path, Is.EqualTo(new[] { "adapters", "shared" }));
        var schema = await c.Acme.GetSchemaAsync(Path("adapters", "shared", Q));
        Assert.That(schema.Metadata["hyprstream.adapter"], Is.EqualTo("shared"));
        Assert.That((await c.Admin.GetSchemaAsync(Path("adapters", "acme@shared"))).Metadata["hyprstream.adapter"], Is.EqualTo("acme@shared"));

        // A CMD descriptor (tiles, float16) describes the tenant's own adapter, and its ticket reads it.
        var tiles = await c.Acme.GetFlightInfoAsync(Cmd(new { adapter = Theirs, form = "tiles", dtype = "float16" }));
        Assert.That(tiles.FlightDescriptor.Path, Is.EqualTo(new[] { "tiles", Theirs }));
        Assert.That(int.Parse(await Rows(c.Acme, tiles.Endpoint[0].Ticket)), Is.GreaterThan(0));
        // The reader of acme reads acme's data.
        Assert.That(await ReadAll(c.Reader, acmeInfo.Endpoint[0].Ticket), Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Reads_OfAnotherTenantsAdapter_AnswerExactlyAsAMissingOne()
    {
        var c = await StartAsync();
        await using var server = c.S;
        var b = c.Beta;
        var answers = new List<string>
        {
            await SameAsMissing("GetFlightInfo path", async n => (await b.GetFlightInfoAsync(Path("adapters", n))).ToString()),
            await SameAsMissing("GetFlightInfo module", async n => (await b.GetFlightInfoAsync(Path("adapters", n, Q))).ToString()),
            await SameAsMissing("GetFlightInfo tiles", async n => (await b.GetFlightInfoAsync(Path("tiles", n))).ToString()),
            await SameAsMissing("GetFlightInfo CMD", async n => (await b.GetFlightInfoAsync(Cmd(new { adapter = n, form = "tiles", dtype = "bfloat16" }))).ToString()),
            await SameAsMissing("GetSchema path", async n => (await b.GetSchemaAsync(Path("adapters", n))).ToString()),
            await SameAsMissing("GetSchema CMD", async n => (await b.GetSchemaAsync(Cmd(new { adapter = n }))).ToString()),
            await SameAsMissing("DoGet rows", n => Rows(b, TicketOf(new { adapter = n }))),
            await SameAsMissing("DoGet module", n => Rows(b, TicketOf(new { adapter = n, module = Q }))),
            await SameAsMissing("DoGet tiles", n => Rows(b, TicketOf(new { adapter = n, form = "tiles" }))),
            await SameAsMissing("stats", async n => (await Act(b, "stats", new { adapter = n })).ToString()),
        };
        Assert.That(answers, Has.All.StartWith("NotFound: "));
        Assert.That(answers[0], Is.EqualTo("NotFound: no adapter 'NAME'"));

        // acme's own ticket, redeemed by beta, names acme-secret in beta's namespace: not found.
        var acmeTicket = (await c.Acme.GetFlightInfoAsync(Path("adapters", Theirs))).Endpoint[0].Ticket;
        Assert.That(await Answer(Theirs, () => Rows(b, acmeTicket)), Is.EqualTo("NotFound: no adapter 'NAME'"));

        // The stored name (TENANT@name) cannot be named by a tenant: refused for the separator, whatever exists.
        var full = await SameAsMissing("DoGet stored name", n => Rows(b, TicketOf(new { adapter = n })), "acme@" + Theirs, "acme@" + Missing);
        Assert.That(full, Does.StartWith("InvalidArgument: ").And.Contain("'@'"));
        Assert.That(await SameAsMissing("GetFlightInfo stored name", async n => (await b.GetFlightInfoAsync(Path("adapters", n))).ToString(), "acme@" + Theirs, "acme@" + Missing),
            Is.EqualTo(full));
        Assert.That(await SameAsMissing("DoGet stored name of an unknown tenant", n => Rows(b, TicketOf(new { adapter = n })), "acme@" + Theirs, "nobody@x"),
            Is.EqualTo(full));
    }

    [Test]
    public async Task DoPut_OfANameAnotherTenantUses_CreatesTheTenantsOwn_AndNeverTouchesTheOther()
    {
        var c = await StartAsync();
        await using var server = c.S;
        // Beta creates acme-secret too (CMD): its own adapter; acme's keeps its two weights.
        var acks = await c.Beta.DoPutAsync(Cmd(CreateCmd(Theirs)), RowSchema, [(Batch((Q, 9, 9, 9f)), null)]);
        using (var ack = JsonDocument.Parse(acks[0].AppMetadata.Memory)) Assert.That(ack.RootElement.GetProperty("adapter").GetString(), Is.EqualTo(Theirs));
        using (var acme = c.S.Durable("acme@" + Theirs)!) Assert.That(acme.ActiveCount, Is.EqualTo(2));
        using (var beta = c.S.Durable("beta@" + Theirs)!) Assert.That(beta.Modules[Q].Get(9, 9), Is.EqualTo(9f));
        Assert.That(await ReadAll(c.Acme, (await c.Acme.GetFlightInfoAsync(Path("adapters", Theirs))).Endpoint[0].Ticket), Has.Count.EqualTo(2));

        // Gamma writing by PATH (no create) to a name acme uses: exactly the answer for a name nobody has.
        var path = await SameAsMissing("DoPut PATH", async n => (await c.Gamma.DoPutAsync(Path("adapters", n), RowSchema, [(Batch((Q, 5, 5, 5f)), null)])).Count.ToString());
        Assert.That(path, Does.StartWith("NotFound: no adapter 'NAME'"));
        Assert.That(path, Does.Not.Contain("gamma@"), "a tenant reads its own names in errors");
        await SameAsMissing("DoPut CMD add", async n => (await c.Gamma.DoPutAsync(Cmd(new { adapter = n, mode = "add" }), RowSchema, [(Batch((Q, 5, 5, 5f)), null)])).Count.ToString());
        var stored = await Answer("x", async () => (await c.Gamma.DoPutAsync(Cmd(CreateCmd("acme@shared")), RowSchema, [(Batch((Q, 5, 5, 5f)), null)])).Count.ToString());
        Assert.That(stored, Does.StartWith("InvalidArgument: ").And.Contain("'@'"));
        using (var acme = c.S.Durable("acme@shared")!) Assert.That(acme.ActiveCount, Is.EqualTo(1), "nothing reached acme's adapter");
        Assert.That(c.S.Durable("gamma@" + Theirs), Is.Null);

        // The admin writes to a tenant's adapter by its stored name; the tenant sees the change.
        await c.Admin.DoPutAsync(Path("adapters", "acme@shared"), RowSchema, [(Batch((Q, 7, 7, 7f)), null)]);
        Assert.That(await ReadAll(c.Acme, TicketOf(new { adapter = "shared" })), Has.Count.EqualTo(2));
    }

    private static readonly (string Action, Func<string, object> Body)[] NamedActions =
    [
        ("merge", n => new { target = n, source = "shared" }),
        ("merge", n => new { target = "shared", source = n, scale = 0.5 }),
        ("fuse", n => new { name = "fused", sources = new[] { "shared", n }, weights = new[] { 1.0, 1.0 } }),
        ("prune", n => new { adapter = n, tolerance = 10.0 }),
        ("keep-top", n => new { adapter = n, fraction = 0.5 }),
        ("save", n => new { adapter = n }),
        ("stats", n => new { adapter = n }),
        ("load", n => new { adapter = n }),
        ("unload", n => new { adapter = n }),
        ("pin", n => new { adapter = n }),
        ("unpin", n => new { adapter = n }),
        ("prefetch", n => new { adapter = n }),
        ("index-upsert", n => new { adapter = n, vector = new[] { 1.0, 0.0, 0.0 } }),
        ("index-remove", n => new { adapter = n }),
        ("delete", n => new { adapter = n }),
    ];

    [Test]
    public async Task EveryAction_OnAnotherTenantsAdapter_AnswersExactlyAsOnAMissingOne_AndChangesNothing()
    {
        var c = await StartAsync();
        await using var server = c.S;
        await Act(c.Acme, "index-upsert", new { adapter = Theirs, vector = new[] { 1.0, 0.0, 0.0 } });
        await Act(c.Acme, "pin", new { adapter = Theirs });
        foreach (var (action, body) in NamedActions)
        {
            var answer = await SameAsMissing(action, async n => (await Act(c.Beta, action, body(n))).ToString());
            // delete and index-remove of a name that is not there succeed with false; the rest are NOT_FOUND.
            if (action == "delete") Assert.That(answer, Is.EqualTo("OK {\"deleted\":false}"));
            else if (action == "index-remove") Assert.That(answer, Is.EqualTo("OK {\"removed\":false}"));
            else Assert.That(answer, Does.StartWith("NotFound: ").And.Contain("NAME").And.Not.Contain("beta@"), action);
            var stored = await SameAsMissing(action + " (stored name)", async n => (await Act(c.Beta, action, body(n))).ToString(), "acme@" + Theirs, "acme@" + Missing);
            Assert.That(stored, Does.StartWith("InvalidArgument: ").And.Contain("'@'"), action);
        }
        // acme's adapter, file, embedding and pin are all still there.
        using (var acme = c.S.Durable("acme@" + Theirs)!) Assert.That(acme.ActiveCount, Is.EqualTo(2));
        Assert.That(File.Exists(c.S.Dir.File($"acme@{Theirs}.vdb")), Is.True);
        Assert.That((await Act(c.Acme, "stats", new { adapter = Theirs })).GetProperty("per_adapter")[0].GetProperty("tier").GetString(), Is.EqualTo("L1"));
        Assert.That((await Act(c.Acme, "search", new { vector = new[] { 1.0, 0.0, 0.0 } })).GetProperty("results")[0].GetProperty("adapter").GetString(), Is.EqualTo(Theirs));
        Assert.That(c.S.Durable("beta@fused"), Is.Null);
    }

    [Test]
    public async Task Actions_OnOwnAdapters_TakeAndReturnTheTenantsNames()
    {
        var c = await StartAsync();
        await using var server = c.S;
        await c.Acme.DoPutAsync(Cmd(CreateCmd("other")), RowSchema, [(Batch((Q, 5, 5, 0.5f)), null)]);
        Assert.That((await Act(c.Acme, "merge", new { target = "shared", source = "other" })).GetProperty("target").GetString(), Is.EqualTo("shared"));
        Assert.That((await Act(c.Acme, "fuse", new { name = "both", sources = new[] { "shared", Theirs }, weights = new[] { 1.0, 1.0 } })).GetProperty("name").GetString(), Is.EqualTo("both"));
        using (var fused = c.S.Durable("acme@both")!) Assert.That(fused.ActiveCount, Is.EqualTo(4));
        var saved = await Act(c.Acme, "save", new { adapter = "both" });
        Assert.That(saved.GetProperty("adapter").GetString(), Is.EqualTo("both"));
        Assert.That(File.Exists(c.S.Dir.File("acme@both.vdb")), Is.True, "a tenant's file is TENANT@name.vdb");
        Assert.That((await Act(c.Acme, "load", new { adapter = "both" })).GetProperty("adapter").GetString(), Is.EqualTo("both"));
        Assert.That((await Act(c.Acme, "prune", new { adapter = "both", tolerance = 1.5 })).GetProperty("removed").GetInt64(), Is.EqualTo(1));
        Assert.That((await Act(c.Acme, "delete", new { adapter = "other" })).GetProperty("deleted").GetBoolean(), Is.True);
        Assert.That(c.S.Durable("acme@other"), Is.Null);
        // An error about the tenant's own adapter names it as the tenant does (no prefix).
        var e = Assert.ThrowsAsync<RpcException>(() => Act(c.Acme, "fuse", new { name = "both", sources = new[] { "shared" }, weights = new[] { 1.0 } }));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.AlreadyExists));
        Assert.That(e.Status.Detail, Is.EqualTo("adapter 'both' already exists"));
        e = Assert.ThrowsAsync<RpcException>(() => c.Acme.GetFlightInfoAsync(Path("adapters", "shared", "no.such.module")));
        Assert.That(e!.Status.Detail, Does.Contain("adapter 'shared' has no module").And.Not.Contain("acme@"));
        // A tenant's names stay within the store's limit once prefixed, and the message says the tenant's limit.
        e = Assert.ThrowsAsync<RpcException>(() => Act(c.Acme, "prune", new { adapter = new string('n', 199), tolerance = 1.0 }));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(e.Status.Detail, Does.Contain("limited to 195 bytes"));
    }

    [Test]
    public async Task Stats_ForATenant_CountOnlyItsAdapters_AndShowNoStoreInternals()
    {
        var c = await StartAsync();
        await using var server = c.S;
        var acme = await Act(c.Acme, "stats");
        Assert.That(acme.GetProperty("tenant").GetString(), Is.EqualTo("acme"));
        Assert.That(acme.GetProperty("adapters").GetInt32(), Is.EqualTo(2));
        Assert.That(acme.GetProperty("active_weights").GetInt64(), Is.EqualTo(3));
        Assert.That(acme.GetProperty("weights_written").GetInt64(), Is.EqualTo(3), "acme's own DoPut weights");
        Assert.That(acme.GetProperty("per_adapter").EnumerateArray().Select(p => p.GetProperty("adapter").GetString()), Is.EquivalentTo(new[] { "shared", Theirs }));
        Assert.That(acme.TryGetProperty("store", out _), Is.False);
        Assert.That(acme.TryGetProperty("disk_bytes", out _), Is.False);
        Assert.That((await Act(c.Reader, "stats")).GetProperty("adapters").GetInt32(), Is.EqualTo(2));
        var beta = await Act(c.Beta, "stats");
        Assert.That(beta.GetProperty("adapters").GetInt32(), Is.EqualTo(1));
        Assert.That(beta.GetProperty("weights_written").GetInt64(), Is.EqualTo(1));
        Assert.That((await Act(c.Gamma, "stats")).GetProperty("adapters").GetInt32(), Is.Zero);

        var admin = await Act(c.Admin, "stats");
        Assert.That(admin.GetProperty("adapters").GetInt32(), Is.EqualTo(3));
        Assert.That(admin.GetProperty("weights_written").GetInt64(), Is.EqualTo(4));
        Assert.That(admin.TryGetProperty("store", out _), Is.True);
        Assert.That(admin.GetProperty("per_adapter").EnumerateArray().Select(p => p.GetProperty("adapter").GetString()),
            Is.EquivalentTo(new[] { "acme@shared", "acme@" + Theirs, "beta@shared" }));
    }

    [Test]
    public async Task SearchAndTheIndexFlight_HoldOnlyTheCallersTenant_AndStillReturnK()
    {
        var c = await StartAsync();
        await using var server = c.S;
        // Beta's embeddings lie nearest to the query; acme's are farther. A filter applied after the walk would lose acme's.
        for (int i = 0; i < 20; i++)
        {
            var n = $"b{i}";
            await c.Beta.DoPutAsync(Cmd(CreateCmd(n)), RowSchema, [(Batch((Q, 0, 0, 1f)), null)]);
            await Act(c.Beta, "index-upsert", new { adapter = n, vector = new[] { 1.0, 0.001 * i, 0.0 }, metric = "l2" });
        }
        var up = await Act(c.Acme, "index-upsert", new { adapter = "shared", vector = new[] { 0.0, 1.0, 0.0 }, tags = new[] { "domain=math", "tenant=acme" } });
        Assert.That(up.GetProperty("adapter").GetString(), Is.EqualTo("shared"));
        Assert.That(up.GetProperty("count").GetInt64(), Is.EqualTo(1), "a tenant counts its own embeddings");
        await Act(c.Acme, "index-upsert", new { adapter = Theirs, vector = new[] { 0.0, 0.0, 1.0 } });

        var query = new { vector = new[] { 1.0, 0.0, 0.0 }, k = 2 };
        var acme = (await Act(c.Acme, "search", query)).GetProperty("results").EnumerateArray().Select(r => r.GetProperty("adapter").GetString()).ToList();
        Assert.That(acme, Is.EquivalentTo(new[] { "shared", Theirs }));
        Assert.That((await Act(c.Reader, "search", query)).GetProperty("results").GetArrayLength(), Is.EqualTo(2), "the reader searches acme's");
        var beta = (await Act(c.Beta, "search", new { vector = new[] { 0.0, 0.0, 1.0 }, k = 30 })).GetProperty("results").EnumerateArray().Select(r => r.GetProperty("adapter").GetString()).ToList();
        Assert.That(beta, Has.Count.EqualTo(20).And.All.StartWith("b"));
        var tagged = await Act(c.Acme, "search", new { vector = new[] { 1.0, 0.0, 0.0 }, filter = new { tags = new[] { "domain=math" } } });
        Assert.That(tagged.GetProperty("results").GetArrayLength(), Is.EqualTo(1));

        // A tenant cannot search, or tag into, another tenant; one with no embeddings has no index.
        var e = Assert.ThrowsAsync<RpcException>(() => Act(c.Beta, "search", new { vector = new[] { 1.0, 0.0, 0.0 }, filter = new { tenant = "acme" } }));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        e = Assert.ThrowsAsync<RpcException>(() => Act(c.Beta, "index-upsert", new { adapter = "b0", vector = new[] { 1.0, 0.0, 0.0 }, tags = new[] { "tenant=acme" } }));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        e = Assert.ThrowsAsync<RpcException>(() => Act(c.Gamma, "search", query));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.NotFound));
        Assert.That(e.Status.Detail, Does.Contain("no adapter index yet"));
        Assert.That(Paths(await c.Gamma.ListFlightsAsync()), Does.Not.Contain("index"));
        Assert.That(Assert.ThrowsAsync<RpcException>(() => c.Gamma.GetFlightInfoAsync(Path("index")))!.StatusCode, Is.EqualTo(StatusCode.NotFound));

        // The index flight: each tenant's rows only, by its names; the admin's has every one by stored name.
        var info = await c.Acme.GetFlightInfoAsync(Path("index"));
        Assert.That(info.TotalRecords, Is.EqualTo(2));
        var rows = new List<string>();
        await foreach (var b in c.Acme.DoGetAsync(info.Endpoint[0].Ticket))
            rows.AddRange(Enumerable.Range(0, b.Length).Select(i => ((Apache.Arrow.StringArray)b.Column("adapter")).GetString(i)));
        Assert.That(rows, Is.EquivalentTo(new[] { "shared", Theirs }));
        Assert.That((await c.Beta.GetFlightInfoAsync(Path("index"))).TotalRecords, Is.EqualTo(20));
        Assert.That((await c.Admin.GetFlightInfoAsync(Path("index"))).TotalRecords, Is.EqualTo(22));
        var all = (await Act(c.Admin, "search", new { vector = new[] { 0.0, 1.0, 0.0 }, k = 1 })).GetProperty("results")[0].GetProperty("adapter").GetString();
        Assert.That(all, Is.EqualTo("acme@shared"));
        var adminFiltered = await Act(c.Admin, "search", new { vector = new[] { 1.0, 0.0, 0.0 }, k = 30, filter = new { tenant = "acme" } });
        Assert.That(adminFiltered.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("adapter").GetString()), Is.EquivalentTo(new[] { "acme@shared", "acme@" + Theirs }),
            "every embedding of TENANT@name carries tenant=TENANT");

        // Removing by a tenant's name removes its own embedding only.
        Assert.That((await Act(c.Beta, "index-remove", new { adapter = "shared" })).GetProperty("removed").GetBoolean(), Is.False);
        Assert.That((await Act(c.Acme, "index-remove", new { adapter = "shared" })).GetProperty("removed").GetBoolean(), Is.True);
        Assert.That((await c.Admin.GetFlightInfoAsync(Path("index"))).TotalRecords, Is.EqualTo(21));
    }

    private static readonly (string Action, object Body)[] ChangingActions =
    [
        ("merge", new { target = "shared", source = Theirs }),
        ("fuse", new { name = "f", sources = new[] { "shared" }, weights = new[] { 1.0 } }),
        ("prune", new { adapter = "shared", tolerance = 10.0 }),
        ("keep-top", new { adapter = "shared", fraction = 0.5 }),
        ("save", new { adapter = "shared" }),
        ("delete", new { adapter = "shared" }),
        ("load", new { adapter = "shared" }),
        ("unload", new { adapter = "shared" }),
        ("pin", new { adapter = "shared" }),
        ("unpin", new { adapter = "shared" }),
        ("prefetch", new { adapter = "shared" }),
        ("index-upsert", new { adapter = "shared", vector = new[] { 1.0, 0.0 } }),
        ("index-remove", new { adapter = "shared" }),
        ("checkpoint", new { }),
        ("rescan", new { }),
    ];

    [Test]
    public async Task ReadRole_IsDeniedDoPutAndEveryChangingAction_ButReads()
    {
        var c = await StartAsync();
        await using var server = c.S;
        var r = c.Reader;
        var e = Assert.ThrowsAsync<RpcException>(() => r.DoPutAsync(Path("adapters", "shared"), RowSchema, [(Batch((Q, 6, 6, 6f)), null)]));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
        Assert.That(e.Status.Detail, Does.Contain("DoPut").And.Contain("read"));
        e = Assert.ThrowsAsync<RpcException>(() => r.DoPutAsync(Cmd(CreateCmd("new-one")), RowSchema, [(Batch((Q, 6, 6, 6f)), null)]));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
        foreach (var (action, body) in ChangingActions)
        {
            e = Assert.ThrowsAsync<RpcException>(() => Act(r, action, body), action);
            Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied), action);
            Assert.That(e.Status.Detail, Does.Contain(action), action);
        }
        // Nothing changed: acme's adapters are as written, no file was saved, nothing was created.
        using (var shared = c.S.Durable("acme@shared")!) Assert.That(shared.ActiveCount, Is.EqualTo(1));
        Assert.That(c.S.Durable("acme@new-one"), Is.Null);
        Assert.That(c.S.Durable("acme@f"), Is.Null);
        Assert.That(File.Exists(c.S.Dir.File("acme@shared.vdb")), Is.False);

        // Reads work.
        Assert.That(await r.ListFlightsAsync(), Is.Not.Empty);
        Assert.That(await ReadAll(r, (await r.GetFlightInfoAsync(Path("adapters", "shared"))).Endpoint[0].Ticket), Has.Count.EqualTo(1));
        Assert.That((await r.GetSchemaAsync(Path("tiles", "shared"))).Metadata["hyprstream.form"], Is.EqualTo("tiles"));
        Assert.That((await Act(r, "stats")).GetProperty("adapters").GetInt32(), Is.EqualTo(2));
        Assert.That(await r.ListActionsAsync(), Has.Count.EqualTo(18));
        // Unknown actions stay INVALID_ARGUMENT for every role.
        Assert.That(Assert.ThrowsAsync<RpcException>(() => Act(r, "no-such-action"))!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
    }

    [Test]
    public async Task CheckpointAndRescan_AreAdminOnly_AndTheAdminReachesEveryTenant()
    {
        var c = await StartAsync();
        await using var server = c.S;
        foreach (var action in new[] { "checkpoint", "rescan" })
        {
            var e = Assert.ThrowsAsync<RpcException>(() => Act(c.Acme, action));
            Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied), action);
            Assert.That(e.Status.Detail, Does.Contain("admin"), action);
        }
        Assert.That((await Act(c.Admin, "checkpoint")).GetProperty("checkpoints").GetInt64(), Is.GreaterThanOrEqualTo(1));
        // A file named TENANT@name.vdb dropped into the data directory becomes that tenant's adapter on rescan.
        using (var dropped = Fixtures.Small("inner")) dropped.Save(c.S.Dir.File("beta@dropped.vdb"));
        using var tokenAdmin = new FlightClient(c.S.Host.Address) { Token = "also-admin" };
        Assert.That((await Act(tokenAdmin, "rescan")).GetProperty("loaded")[0].GetString(), Is.EqualTo("beta@dropped"));
        Assert.That(Paths(await c.Beta.ListFlightsAsync()), Does.Contain("adapters/dropped"));

        Assert.That((await Act(c.Admin, "prune", new { adapter = "beta@shared", tolerance = 10.0 })).GetProperty("removed").GetInt64(), Is.EqualTo(1));
        using (var beta = c.S.Durable("beta@shared")!) Assert.That(beta.ActiveCount, Is.Zero);
        Assert.That((await Act(c.Admin, "merge", new { target = "acme@shared", source = "beta@shared" })).GetProperty("target").GetString(), Is.EqualTo("acme@shared"));
        Assert.That(Assert.ThrowsAsync<RpcException>(() => c.S.Client.ListFlightsAsync())!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated), "no token");
    }

    [Test]
    public void TokensFile_Parses_RolesAndTenants()
    {
        var grants = TokensFile.Parse("""
            {"tokens": [
              {"token": "t1", "tenant": "acme", "role": "write"},
              {"token": "t2", "tenant": "acme.eu-1_b", "role": "read"},
              {"token": "t3", "role": "admin"}
            ]}
            """, "t.json");
        Assert.That(grants, Is.EqualTo(new[] { new TokenGrant("t1", "acme", Role.Write), new TokenGrant("t2", "acme.eu-1_b", Role.Read), new TokenGrant("t3", null, Role.Admin) }));
        var auth = new TokenAuth(["t4"], grants);
        Assert.That(auth.Describe(), Is.EqualTo("bearer token required, 4 tokens accepted (2 admin, 1 write, 1 read; 2 tenants: acme, acme.eu-1_b)"));
        Assert.That(new TokenAuth(["a", "b"]).Describe(), Is.EqualTo("bearer token required, 2 tokens accepted (2 admin)"));
    }

    private static readonly (string Json, string Expected)[] BadFiles =
    [
        ("not json", "is not JSON"),
        ("[]", "must be a JSON object with a \"tokens\" array"),
        ("{\"tokens\": []}", "holds no tokens"),
        ("{\"tokens\": [], \"extra\": 1}", "unknown field \"extra\""),
        ("{\"tokens\": [\"t\"]}", "tokens[0] must be an object"),
        ("{\"tokens\": [{\"tenant\": \"acme\", \"role\": \"read\"}]}", "tokens[0] (tenant \"acme\") has no \"token\""),
        ("{\"tokens\": [{\"token\": \"\", \"tenant\": \"acme\", \"role\": \"read\"}]}", "the token of tokens[0] (tenant \"acme\") is empty or blank"),
        ("{\"tokens\": [{\"token\": \"  \", \"role\": \"admin\"}]}", "the token of tokens[0] is empty or blank"),
        ("{\"tokens\": [{\"token\": \" t \", \"role\": \"admin\"}]}", "the token of tokens[0] has leading or trailing spaces"),
        ("{\"tokens\": [{\"token\": 5, \"role\": \"admin\"}]}", "tokens[0]: \"token\" must be a string"),
        ("{\"tokens\": [{\"token\": \"a\", \"role\": \"admin\"}, {\"token\": \"a\", \"tenant\": \"beta\", \"role\": \"read\"}]}", "tokens[1] (tenant \"beta\") has the same token as tokens[0]"),
        ("{\"tokens\": [{\"token\": \"a\", \"tenant\": \"acme\", \"role\": \"writer\"}]}", "tokens[0] (tenant \"acme\") has an unknown role \"writer\""),
        ("{\"tokens\": [{\"token\": \"a\", \"tenant\": \"acme\"}]}", "tokens[0] (tenant \"acme\") has no \"role\""),
        ("{\"tokens\": [{\"token\": \"a\", \"role\": \"write\"}]}", "tokens[0] is a write token without a \"tenant\""),
        ("{\"tokens\": [{\"token\": \"a\", \"tenant\": \"acme\", \"role\": \"admin\"}]}", "tokens[0] (tenant \"acme\") is an admin token with a \"tenant\""),
        ("{\"tokens\": [{\"token\": \"a\", \"tenant\": \"ac@me\", \"role\": \"read\"}]}", "tokens[0] has an invalid tenant 'ac@me'"),
        ("{\"tokens\": [{\"token\": \"a\", \"tenant\": \"\", \"role\": \"read\"}]}", "tokens[0] has an invalid tenant"),
        ("{\"tokens\": [{\"token\": \"a\", \"tenant\": \".hidden\", \"role\": \"read\"}]}", "starting with a letter or digit"),
        ("{\"tokens\": [{\"token\": \"a\", \"tenant\": \"" + new string('t', 65) + "\", \"role\": \"read\"}]}", "1–64 characters"),
        ("{\"tokens\": [{\"token\": \"a\", \"tenant\": \"acme\", \"role\": \"read\", \"rol\": \"x\"}]}", "tokens[0] (tenant \"acme\") has an unknown field \"rol\""),
    ];

    [TestCaseSource(nameof(BadFiles))]
    public void TokensFile_Bad_IsRefused_NamingTheEntry((string Json, string Expected) bad)
    {
        var e = Assert.Throws<ArgumentException>(() => TokensFile.Parse(bad.Json, "/etc/t.json"));
        Assert.That(e!.Message, Does.StartWith("tokens file /etc/t.json: ").And.Contain(bad.Expected));
    }

    [Test]
    public void TokensFile_TokenAlsoGivenAsAdmin_IsRefusedAtStart()
    {
        using var dir = new TempDir();
        var e = Assert.ThrowsAsync<ArgumentException>(() => FlightServiceHost.StartAsync(new FlightServiceOptions
        {
            DataDirectory = dir.Path,
            Listen = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0),
            Tokens = ["tok-7f3a"],
            Grants = [new TokenGrant("tok-7f3a", "acme", Role.Read)],
        }));
        Assert.That(e!.Message, Does.Contain("tenant \"acme\"").And.Contain("also given by --token"));
        Assert.That(e.Message, Does.Not.Contain("tok-7f3a"), "the token itself is never printed");
    }
}

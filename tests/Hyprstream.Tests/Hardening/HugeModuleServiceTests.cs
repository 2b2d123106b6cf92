using Hyprstream.Tests.Service;
using Hyprstream.Service;
using static Hyprstream.Tests.Service.FlightPutTests;
using static Hyprstream.Tests.Service.FlightServiceTests;

namespace Hyprstream.Tests.Hardening;

/// <summary>
/// The attacker's legal module — 1,048,576 × 33,554,432 declared, one weight stored — through every Flight call that
/// used to walk its declared tiles (ListFlights, GetFlightInfo, DoGet, stats, checkpoint, save/load, prune, keep-top,
/// merge): each answers with the right values, bounded by what is stored.
/// </summary>
[TestFixture]
public sealed class HugeModuleServiceTests
{
    private const string M = "model.layers.0.mlp.down_proj";

    /// <summary>Fails the test after <paramref name="seconds"/> instead of letting the suite hang on a regression.</summary>
    private static async Task Bounded(Func<Task> body, int seconds = 120)
    {
        var run = Task.Run(body);
        if (await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(seconds))) != run)
            Assert.Fail($"still running after {seconds} s: a scan walks declared tiles again");
        await run;
    }

    [Test]
    public Task HugeSparseModule_IsServedByEveryCall() => Bounded(async () =>
    {
        await using var s = await FlightServer.StartAsync();
        var c = s.Client;
        var cmd = Cmd(new { adapter = "huge", create = true, modules = new[] { new { name = M, rows = 1 << 20, cols = 1 << 25, scale = 2.0 } } });
        await c.DoPutAsync(cmd, RowSchema, [(Batch((M, 1_000_000, 33_000_000, 0.25f), (M, 3, 5, 0.001f)), null)]);

        var flights = await c.ListFlightsAsync();
        Assert.That(flights.Select(f => string.Join("/", f.FlightDescriptor.Path)), Does.Contain("adapters/huge").And.Contain($"adapters/huge/{M}"));
        var info = await c.GetFlightInfoAsync(Path("adapters", "huge", M));
        var rows = await ReadAll(c, info.Endpoint[0].Ticket);
        Assert.That(rows, Has.Count.EqualTo(2));
        Assert.That(rows[(M, 1_000_000, 33_000_000)], Is.EqualTo(0.25f));

        var stats = await FlightActionAuthTests.Act(c, "stats");
        Assert.That(stats.GetProperty("active_weights").GetInt64(), Is.EqualTo(2));
        await FlightActionAuthTests.Act(c, "checkpoint");
        await FlightActionAuthTests.Act(c, "save", new { adapter = "huge" });
        await FlightActionAuthTests.Act(c, "load", new { adapter = "huge" });
        var pruned = await FlightActionAuthTests.Act(c, "prune", new { adapter = "huge", tolerance = 0.01 });
        Assert.That(pruned.GetProperty("removed").GetInt64(), Is.EqualTo(1));
        await FlightActionAuthTests.Act(c, "keep-top", new { adapter = "huge", fraction = 0.5, structure = "unstructured" });
        await FlightActionAuthTests.Act(c, "merge", new { target = "huge", source = "huge", scale = 1.0 });
        rows = await ReadAll(c, (await c.GetFlightInfoAsync(Path("adapters", "huge"))).Endpoint[0].Ticket);
        Assert.That(rows.Single().Value, Is.EqualTo(0.5f), "pruned the small weight, kept and doubled the large one");

        using var durable = s.Durable("huge")!;
        Assert.That(durable.Modules[M].Get(1_000_000, 33_000_000), Is.EqualTo(0.5f));
        Assert.That(durable.ActiveCount, Is.EqualTo(1));
    });
}

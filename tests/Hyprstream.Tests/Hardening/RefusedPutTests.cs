using Grpc.Core;
using Hyprstream.Flight;
using Hyprstream.Runtime.Store;
using Hyprstream.Service;
using Hyprstream.Tests.Service;
using static Hyprstream.Tests.Service.FlightPutTests;
using static Hyprstream.Tests.Service.FlightServiceTests;

namespace Hyprstream.Tests.Hardening;

/// <summary>A refused DoPut changes nothing: no adapter is left behind, no record is logged, the store reopens.</summary>
[TestFixture]
public sealed class RefusedPutTests
{
    private const string Q = "model.layers.0.self_attn.q_proj";

    private static IEnumerable<TestCaseData> BadModules()
    {
        yield return new TestCaseData(int.MaxValue, int.MaxValue, 1.0).SetName("Module2147483647Squared");
        yield return new TestCaseData(-5, 64, 1.0).SetName("NegativeRows");
        yield return new TestCaseData(0, 64, 1.0).SetName("ZeroRows");
        yield return new TestCaseData(8, 64, 1e39).SetName("ScalePastFloat");
        yield return new TestCaseData(1 << 25, (1 << 25) + 1, 1.0).SetName("ColsPastTheLimit");
    }

    [TestCaseSource(nameof(BadModules))]
    public async Task CreateWithABadModule_IsInvalidArgument_AndLeavesNothingBehind(int rows, int cols, double scale)
    {
        await using var s = await FlightServer.StartAsync();
        await s.Client.DoPutAsync(Cmd(CreateCmd("keep")), RowSchema, [(Batch((Q, 0, 0, 1f)), null)]);
        var records = s.Host.Store.Store.Stats().WalRecordsAppended;
        var cmd = new { adapter = "victim", create = true, modules = new object[] { new { name = Q, rows = 8, cols = 64, scale = 1.0 }, new { name = "m2", rows, cols, scale } } };
        var e = Assert.ThrowsAsync<RpcException>(() => s.Client.DoPutAsync(Cmd(cmd), RowSchema, [(Batch((Q, 0, 0, 1f)), null)]));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), e.Message);
        // The same module declared for an existing adapter: refused as well, nothing declared.
        var cmdExisting = new { adapter = "keep", modules = new object[] { new { name = "m2", rows, cols, scale } } };
        var e3 = Assert.ThrowsAsync<RpcException>(() => s.Client.DoPutAsync(Cmd(cmdExisting), RowSchema, []));
        Assert.That(e3!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));

        Assert.That(s.Host.Store.Store.Stats().WalRecordsAppended, Is.EqualTo(records), "nothing was logged");
        var names = (await s.Client.ListFlightsAsync()).Select(f => f.FlightDescriptor.Path[1]).Distinct().ToList();
        Assert.That(names, Does.Not.Contain("victim"));
        var stats = await FlightActionAuthTests.Act(s.Client, "stats");
        Assert.That(stats.GetProperty("adapters").GetInt32(), Is.EqualTo(1));
        Assert.That(s.Host.Store.Store.Info("keep").Modules.Select(m => m.Name), Is.EqualTo(new[] { Q }));

        // What a crash now would keep opens cleanly and holds only "keep".
        using var durable = s.Durable("keep");
        Assert.That(durable, Is.Not.Null);
        Assert.That(s.Durable("victim"), Is.Null);
    }
}

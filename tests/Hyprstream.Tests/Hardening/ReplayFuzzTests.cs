using System.Text.Json;
using Hyprstream.Flight.Rpc;
using Hyprstream.Runtime.Store;
using Hyprstream.Service;
using Hyprstream.Tests.Service;

namespace Hyprstream.Tests.Hardening;

/// <summary>
/// Replay cannot fail: random accepted and refused requests, each followed by a crash. Every reply is a success or a
/// refusal that names the client's mistake (never INTERNAL), and the store a crash leaves behind opens with nothing
/// quarantined and exactly the live state.
/// </summary>
[TestFixture]
public sealed class ReplayFuzzTests
{
    [TestCase(20261129, 120)]
    [TestCase(7, 120)]
    [CancelAfter(300_000)]
    public async Task RandomRequests_ACrashAfterEach_ReopensToTheLiveState(int seed, int steps)
    {
        await using var s = await FlightServer.StartAsync();
        var gen = new RandomRequests(seed);
        var storeDir = Path.Combine(s.Dir.Path, ServiceStore.StoreFolder);
        var live = s.Host.Store.Store;
        var seen = new Dictionary<Grpc.Core.StatusCode, int>();
        for (int step = 0; step < steps; step++)
        {
            var (what, status) = await gen.SendAsync(s.Client);
            seen[status] = seen.GetValueOrDefault(status) + 1;
            Assert.That(RandomRequests.Allowed, Does.Contain(status), $"step {step}: {what} ended with {status}");
            await FlightActionAuthTests.Act(s.Client, "stats"); // the server still answers

            using var copy = new TempDir();
            using var recovered = FlightServer.CrashCopy(storeDir, copy.Path);
            Assert.That(recovered.Recovery.QuarantinedAdapters, Is.EqualTo(0), $"step {step}: {what}: {recovered.Recovery}");
            Assert.That(recovered.Names, Is.EqualTo(live.Names), $"step {step}: {what}");
            foreach (var n in live.Names)
                Assert.That(recovered.Read(n, Fingerprint), Is.EqualTo(live.Read(n, Fingerprint)), $"step {step}: {what}: adapter {n}");
        }
        TestContext.Out.WriteLine(string.Join(", ", seen.Select(kv => $"{kv.Key}: {kv.Value}")));
        Assert.That(seen.GetValueOrDefault(Grpc.Core.StatusCode.OK), Is.GreaterThan(steps / 10), "enough requests succeed to build state");
        Assert.That(seen.GetValueOrDefault(Grpc.Core.StatusCode.InvalidArgument), Is.GreaterThan(steps / 10), "enough requests are refused");
    }

    private static string Fingerprint(Hyprstream.Runtime.SparseAdapter a) =>
        $"{a.ContentHash():x} {string.Join(";", a.Modules.Select(m => $"{m.Name}:{m.Rows}x{m.Cols}*{m.Scale}"))}";

    [Test]
    [CancelAfter(300_000)]
    public async Task RandomRequests_ThenSigkill_TheServerRestartsOnWhatItAcknowledged()
    {
        using var dir = new TempDir();
        var gen = new RandomRequests(4242);
        for (int round = 0; round < 6; round++)
        {
            var (server, line) = await ServeProcess.StartAsync(dir.Path);
            _ = server.StandardError.ReadToEndAsync();
            string[] names;
            try
            {
                using var client = new FlightClient(new Uri("http://" + ServeProcess.Authority(line)));
                for (int i = 0; i < 8; i++)
                {
                    var (what, status) = await gen.SendAsync(client);
                    Assert.That(RandomRequests.Allowed, Does.Contain(status), $"round {round}: {what} ended with {status}");
                }
                var stats = await FlightActionAuthTests.Act(client, "stats");
                names = stats.GetProperty("per_adapter").EnumerateArray().Select(p => p.GetProperty("adapter").GetString()!).Order(StringComparer.Ordinal).ToArray();
            }
            finally
            {
                server.Kill(entireProcessTree: true); // SIGKILL
                server.WaitForExit(30_000);
                server.Dispose();
            }
            using var store = AdapterStore.Open(Path.Combine(dir.Path, ServiceStore.StoreFolder));
            Assert.That(store.Recovery.QuarantinedAdapters, Is.EqualTo(0), $"round {round}: {store.Recovery}");
            Assert.That(store.Names, Is.EqualTo(names), $"round {round}");
        }
    }
}

using System.Text.Json;
using Hyprstream.Flight.Rpc;
using Hyprstream.Runtime.Index;
using Hyprstream.Runtime.Store;
using Hyprstream.Service;

namespace Hyprstream.Tests.Service;

/// <summary>
/// The index's durability as it fails in production: `hyprstream serve` is killed with SIGKILL while clients send
/// index-upsert actions. After each kill, every acknowledged embedding is in the store (as its adapter's
/// description) and in the reopened index, or a later one that was sent for the same adapter.
/// </summary>
[TestFixture]
public sealed class ServeIndexCrashTests
{
    // Each round streams up to Passes versions of every adapter's embedding, so the kill (100-800 ms after the first
    // acknowledgement) lands mid-stream however fast the machine acknowledges.
    private const int Adapters = 200, Dim = 8, Rounds = 4, Workers = 2, Passes = 50;

    /// <summary>Version <paramref name="version"/> of adapter <paramref name="j"/>'s embedding.</summary>
    private static double[] Vector(int version, int j)
    {
        var rng = new Random(version * 100_003 + j);
        return Enumerable.Range(0, Dim).Select(_ => (double)(float)(rng.NextDouble() * 2 - 1)).ToArray();
    }

    [Test]
    public async Task SigkillDuringIndexUpserts_NothingAcknowledgedIsLost()
    {
        using var dir = new TempDir();
        using (var store = AdapterStore.Open(Path.Combine(dir.Path, ServiceStore.StoreFolder)))
            for (int j = 0; j < Adapters; j++) store.Create($"a{j}");
        var rng = new Random(20261130);
        var acked = new int[Adapters];   // the last version whose upsert was acknowledged, per adapter (-1: none)
        var sent = new int[Adapters];    // the last version whose upsert was sent
        Array.Fill(acked, -1);
        Array.Fill(sent, -1);
        int midStream = 0;
        for (int round = 0; round < Rounds; round++)
        {
            var (server, line) = await ServeProcess.StartAsync(dir.Path);
            _ = server.StandardError.ReadToEndAsync();
            int done = 0;
            try
            {
                using var client = new FlightClient(new Uri("http://" + ServeProcess.Authority(line)));
                var firstAck = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                int r = round;
                var workers = Enumerable.Range(0, Workers).Select(w => Task.Run(async () =>
                {
                    try
                    {
                        for (int pass = 0; pass < Passes; pass++)
                        for (int j = w; j < Adapters; j += Workers)
                        {
                            int version = r * Passes + pass;
                            Volatile.Write(ref sent[j], version);
                            var body = JsonSerializer.SerializeToUtf8Bytes(new { adapter = $"a{j}", vector = Vector(version, j), metric = "l2" });
                            await client.DoActionAsync("index-upsert", body);
                            Volatile.Write(ref acked[j], version);
                            Interlocked.Increment(ref done);
                            firstAck.TrySetResult();
                        }
                    }
                    catch (Exception) { /* the server died */ }
                    firstAck.TrySetResult();
                })).ToArray();
                Assert.That(await Task.WhenAny(firstAck.Task, Task.Delay(60_000)), Is.SameAs(firstAck.Task), "no acknowledgement within 60 s");
                await Task.Delay(rng.Next(100, 800));
            }
            finally
            {
                server.Kill(entireProcessTree: true); // SIGKILL: no shutdown, no graph cache written
                server.WaitForExit(30_000);
                server.Dispose();
            }
            if (Volatile.Read(ref done) < Adapters * Passes) midStream++;

            using var st = AdapterStore.Open(Path.Combine(dir.Path, ServiceStore.StoreFolder));
            using var index = AdapterIndex.OpenOnStore(st, Path.Combine(dir.Path, ".index"))!;
            Assert.That(index, Is.Not.Null, $"round {round}: no index after the kill");
            for (int j = 0; j < Adapters; j++)
            {
                if (acked[j] < 0 && sent[j] < 0) continue;
                var stored = st.Description($"a{j}").Embedding;
                int found = stored == null ? -1
                    : Enumerable.Range(0, sent[j] + 1).LastOrDefault(x => Vector(x, j).Select(v => (float)v).SequenceEqual(stored), -1);
                if (acked[j] >= 0)
                    Assert.That(found, Is.GreaterThanOrEqualTo(acked[j]), $"round {round}: a{j}'s acknowledged embedding (version {acked[j]}) is lost");
                if (found >= 0)
                {
                    var hit = index.Search(Vector(found, j), 1, ef: 100)[0];
                    Assert.That((hit.Adapter, hit.Distance), Is.EqualTo(($"a{j}", 0.0)), $"round {round}: the reopened index does not hold a{j}'s embedding");
                }
            }
            TestContext.Out.WriteLine($"round {round}: {done} acknowledged this round; index {index.Count} embeddings, recovery {index.Recovery}");
        }
        Assert.That(midStream, Is.GreaterThanOrEqualTo(Rounds / 2), "most kills should land while upserts are still streaming");
    }
}

using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using Hyprstream.Flight.Rpc;
using Hyprstream.Flight.Ipc;
using Hyprstream.Flight.Protocol;
using Hyprstream.Runtime.Store;
using Hyprstream.Service;
using static Hyprstream.Tests.Service.FlightServiceTests;

using static Hyprstream.Tests.Service.FlightPutTests;
namespace Hyprstream.Tests.Service;

/// <summary>
/// The service's durability promise, tested as it fails in production: `hyprstream serve` is killed with SIGKILL
/// while a client streams DoPut batches. After each kill the store must open without repair and hold every batch
/// the client saw acknowledged; any other batch is there whole or not at all.
/// </summary>
[TestFixture]
public sealed class ServeCrashTests
{
    private const string Module = "model.layers.3.mlp.down_proj";
    private const int Rows = 2048, Cols = 4096, CellsPerBatch = 32, BatchesPerRound = 20_000, Rounds = 8;

    /// <summary>Batch <paramref name="id"/> sets its own 32 cells to id + 1.</summary>
    private static (int Row, int Col)[] Cells(int id) =>
        Enumerable.Range(0, CellsPerBatch).Select(i => (id * CellsPerBatch + i) is var p ? (p / Cols, p % Cols) : default).ToArray();

    [Test]
    public async Task SigkillDuringDoPut_EveryAcknowledgedBatchSurvives_OthersAreWholeOrAbsent()
    {
        using var dir = new TempDir();
        var rng = new Random(20261121);
        var acked = new HashSet<int>();
        var sent = new HashSet<int>();
        int midStream = 0;
        for (int round = 0; round < Rounds; round++)
        {
            var (server, line) = await ServeProcess.StartAsync(dir.Path, "--fsync", "batch(2)");
            _ = server.StandardError.ReadToEndAsync(); // drained, so the server never blocks on a full pipe
            var authority = ServeProcess.Authority(line);
            int first = round * BatchesPerRound;
            try
            {
                using var client = new FlightClient(new Uri("http://" + authority));
                using var call = client.StartDoPut();
                var firstAck = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var reader = Task.Run(async () =>
                {
                    try
                    {
                        while (await call.ResponseStream.MoveNext(default))
                        {
                            using var ack = JsonDocument.Parse(call.ResponseStream.Current.AppMetadata.Memory);
                            lock (acked) acked.Add(first + ack.RootElement.GetProperty("batch").GetInt32());
                            firstAck.TrySetResult();
                        }
                    }
                    catch (Exception) { /* the server died */ }
                    firstAck.TrySetResult();
                });
                var writer = Task.Run(async () =>
                {
                    try
                    {
                        var cmd = Cmd(new { adapter = "crash", create = true, modules = new[] { new { name = Module, rows = Rows, cols = Cols } } });
                        using var w = new FlightDataWriter(RowSchema, call.RequestStream.WriteAsync, cmd);
                        await w.WriteSchemaAsync();
                        for (int k = 0; k < BatchesPerRound; k++)
                        {
                            var cells = Cells(first + k);
                            lock (sent) sent.Add(first + k);
                            await w.WriteAsync(FlightPutTests.Batch(cells.Select(c => (Module, c.Row, c.Col, (float)(first + k + 1))).ToArray()));
                        }
                        await call.RequestStream.CompleteAsync();
                    }
                    catch (Exception) { /* the server died */ }
                });
                Assert.That(await Task.WhenAny(firstAck.Task, Task.Delay(60_000)), Is.SameAs(firstAck.Task), "no acknowledgement within 60 s");
                await Task.Delay(rng.Next(5, 300));
            }
            finally
            {
                server.Kill(entireProcessTree: true); // SIGKILL: no shutdown, no flush
                server.WaitForExit(30_000);
                server.Dispose();
            }
            Assert.That(acked.Count(id => id >= first), Is.GreaterThan(0), $"round {round}: nothing was acknowledged before the kill");

            using var store = AdapterStore.Open(System.IO.Path.Combine(dir.Path, ServiceStore.StoreFolder));
            using var adapter = store.Get("crash");
            var m = adapter.Modules[Module];
            int whole = 0;
            var got = new float[CellsPerBatch];
            foreach (var id in sent)
            {
                var cells = Cells(id);
                m.GetMany(cells.Select(c => c.Row).ToArray(), cells.Select(c => c.Col).ToArray(), got);
                bool present = got.All(v => v == id + 1), absent = got.All(v => v == 0);
                if (acked.Contains(id)) Assert.That(present, Is.True, $"round {round}: acknowledged batch {id} is {(absent ? "missing" : "torn")} after the crash");
                else Assert.That(present || absent, Is.True, $"round {round}: unacknowledged batch {id} is torn: [{string.Join(", ", got)}]");
                if (present) whole++;
            }
            TestContext.Out.WriteLine($"round {round}: {acked.Count} acknowledged, {whole} present of {sent.Count} sent; recovery: {store.Recovery}");
            if (acked.Count(id => id >= first) < BatchesPerRound) midStream++;
        }
        Assert.That(midStream, Is.GreaterThanOrEqualTo(Rounds / 2), "most kills should land while batches are still streaming");
    }
}

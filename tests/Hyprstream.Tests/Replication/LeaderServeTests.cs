using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Grpc.Core;
using Hyprstream.Flight.Ipc;
using Hyprstream.Flight.Rpc;
using Hyprstream.Replication;
using Hyprstream.Runtime.Store;
using Hyprstream.Service;
using static Hyprstream.Tests.Service.FlightPutTests;
using static Hyprstream.Tests.Service.FlightServiceTests;

namespace Hyprstream.Tests.Replication;

/// <summary>
/// `hyprstream serve --object-store` as nodes run it, against a real Ceph RGW: a fresh node recovers from the bucket
/// alone, `--ack remote` loses nothing acknowledged with the leader's machine gone, the gateway down does not stop
/// writes, one leader per prefix, a lost lease stops acknowledging.
/// </summary>
[TestFixture]
public sealed class LeaderServeTests
{
    private const string Module = "model.layers.1.mlp.up_proj";
    // 1024 × 1024 cells hold 131,072 batches of 8 distinct cells, as many as the kill test may send: no two batches share a cell.
    private const int Rows = 1024, Cols = 1024, Cells = 8;

    /// <summary>Batch <paramref name="id"/> sets its own cells to id + 1.</summary>
    private static (int Row, int Col)[] CellsOf(int id) =>
        Enumerable.Range(0, Cells).Select(i => (id * Cells + i) % (Rows * Cols) is var p ? (p / Cols, p % Cols) : default).ToArray();

    private static object CreateIn(string adapter) => new { adapter, create = true, modules = new[] { new { name = Module, rows = Rows, cols = Cols } } };

    private static Task PutAsync(FlightClient c, string adapter, IEnumerable<int> ids) =>
        c.DoPutAsync(Cmd(CreateIn(adapter)), RowSchema,
            ids.Select(id => (Batch(CellsOf(id).Select(x => (Module, x.Row, x.Col, (float)(id + 1))).ToArray()), (byte[]?)null)).ToList());

    private static string StoreOf(string dataDir) => System.IO.Path.Combine(dataDir, ServiceStore.StoreFolder);

    [Test]
    public async Task AFreshNode_RecoversFromTheBucketAlone_ValueByValue()
    {
        var rgw = Ceph.Cluster;
        using var bucket = Ceph.NewBucket(rgw);
        using var first = new TempDir();
        using var fresh = new TempDir();
        await using (var a = await LeaderNode.StartAsync(rgw, bucket, first.Path))
        {
            await PutAsync(a.Client, "one", Enumerable.Range(0, 40));
            await PutAsync(a.Client, "two", Enumerable.Range(100, 30));
            await a.Client.DoActionAsync("checkpoint", "{}"u8.ToArray());
            await PutAsync(a.Client, "one", Enumerable.Range(40, 25));
            await PutAsync(a.Client, "three", Enumerable.Range(500, 10));
            await a.Client.DoActionAsync("delete", JsonSerializer.SerializeToUtf8Bytes(new { adapter = "two" }));
            await a.WaitCaughtUpAsync();
            var r = await a.ReplicationAsync();
            Assert.That(r.GetProperty("role").GetString(), Is.EqualTo("leader"));
            Assert.That(r.GetProperty("bucket").GetString(), Is.EqualTo(bucket.Root.ToString()));
            Assert.That(r.GetProperty("last_error").ValueKind, Is.EqualTo(JsonValueKind.Null));
            await a.StopAsync();
        }
        // What the first node held, then its machine is gone: only the bucket is left.
        var expected = Snapshot(StoreOf(first.Path));
        Directory.Delete(first.Path, recursive: true);
        Directory.Delete(fresh.Path, recursive: true);

        await using (var b = await LeaderNode.StartAsync(rgw, bucket, fresh.Path))
        {
            Assert.That((await b.StatsAsync()).GetProperty("adapters").GetInt32(), Is.EqualTo(2));
            await b.StopAsync();
            Assert.That(b.Stderr, Does.Contain("restored"));
        }
        Assert.That(Snapshot(StoreOf(fresh.Path)), Is.EqualTo(expected), "every value of every adapter");
    }

    [Test]
    public async Task AckRemote_LeaderKilledAndItsDiskGone_EveryAcknowledgedWriteIsRecovered()
    {
        var rgw = Ceph.Cluster;
        using var bucket = Ceph.NewBucket(rgw);
        using var dir = new TempDir();
        var acked = new HashSet<int>();
        var sent = new HashSet<int>();
        await using (var a = await LeaderNode.StartAsync(rgw, bucket, dir.Path, "--ack", "remote", "--lease", "3s", "--ship-interval", "1s"))
        {
            using var call = a.Client.StartDoPut();
            var firstAcks = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var reader = Task.Run(async () =>
            {
                try
                {
                    while (await call.ResponseStream.MoveNext(default))
                    {
                        using var ack = JsonDocument.Parse(call.ResponseStream.Current.AppMetadata.Memory);
                        int n;
                        lock (acked) { acked.Add(ack.RootElement.GetProperty("batch").GetInt32()); n = acked.Count; }
                        if (n >= 50) firstAcks.TrySetResult();
                    }
                }
                catch (Exception) { /* the server died */ }
                firstAcks.TrySetResult();
            });
            var writer = Task.Run(async () =>
            {
                try
                {
                    using var w = new FlightDataWriter(RowSchema, call.RequestStream.WriteAsync, Cmd(CreateIn("remote")));
                    await w.WriteSchemaAsync();
                    for (int k = 0; k < Rows * Cols / Cells; k++)
                    {
                        lock (sent) sent.Add(k);
                        await w.WriteAsync(Batch(CellsOf(k).Select(x => (Module, x.Row, x.Col, (float)(k + 1))).ToArray()));
                    }
                }
                catch (Exception) { /* the server died */ }
            });
            Assert.That(await Task.WhenAny(firstAcks.Task, Task.Delay(60_000)), Is.SameAs(firstAcks.Task), "no acknowledgements within 60 s");
            await Task.Delay(300);
            a.Kill(); // SIGKILL mid-stream
            await Task.WhenAll(reader, writer).WaitAsync(TimeSpan.FromSeconds(30));
        }
        Assert.That(acked, Has.Count.GreaterThanOrEqualTo(50));
        Assert.That(acked.Count, Is.LessThan(sent.Count), "the kill landed while batches were streaming");
        Directory.Delete(dir.Path, recursive: true); // the machine's disk is gone too

        // The killed leader's lease runs out (3 s) before another node may lead.
        await Task.Delay(TimeSpan.FromSeconds(3.5));
        await using (var b = await LeaderNode.StartAsync(rgw, bucket, dir.Path, "--lease", "3s"))
            await b.StopAsync();
        using var store = AdapterStore.OpenReadOnly(StoreOf(dir.Path));
        using var adapter = store.Get("remote");
        var m = adapter.Modules[Module];
        int present = 0;
        foreach (var id in sent)
        {
            var cells = CellsOf(id);
            var got = cells.Select(c => m.Get(c.Row, c.Col)).ToArray();
            bool whole = got.All(v => v == id + 1), absent = got.All(v => v == 0);
            if (acked.Contains(id)) Assert.That(whole, Is.True, $"acknowledged batch {id} is {(absent ? "missing" : "torn")} after the restore");
            else Assert.That(whole || absent, Is.True, $"unacknowledged batch {id} is torn");
            if (whole) present++;
        }
        TestContext.Out.WriteLine($"{acked.Count} acknowledged, {present} recovered, {sent.Count} sent");
    }

    [Test]
    public async Task GatewayDown_WritesGoOnLocally_WithTheLagInStats_ThenShippingCatchesUp()
    {
        using var rgw = Ceph.StartPrivate();
        using var bucket = Ceph.NewBucket(rgw);
        using var dir = new TempDir();
        await using var a = await LeaderNode.StartAsync(rgw, bucket, dir.Path);
        await PutAsync(a.Client, "g", Enumerable.Range(0, 20));
        await a.WaitCaughtUpAsync();

        using var stop = new CancellationTokenSource();
        int written = 20;
        var writer = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                int k = Interlocked.Increment(ref written) - 1;
                await PutAsync(a.Client, "g", [k]); // returns once acknowledged (default ack: local)
            }
        });
        await Task.Delay(300);
        rgw.StopGateway(); // mid-upload: the writer keeps the shipper busy
        int atStop = Volatile.Read(ref written);
        JsonElement r = default;
        var until = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < until)
        {
            r = await a.ReplicationAsync();
            if (r.GetProperty("last_error").ValueKind == JsonValueKind.String && r.GetProperty("lag_records").GetUInt64() > 0
                && r.GetProperty("lag_seconds").GetDouble() > 1) break;
            await Task.Delay(200);
        }
        Assert.That(r.GetProperty("last_error").GetString(), Does.Contain("object store"), r.ToString());
        Assert.That(r.GetProperty("lag_records").GetUInt64(), Is.GreaterThan(0UL), r.ToString());
        Assert.That(r.GetProperty("lag_seconds").GetDouble(), Is.GreaterThan(1), r.ToString());
        Assert.That(Volatile.Read(ref written), Is.GreaterThan(atStop + 5), "writes are acknowledged while the gateway is down");
        Assert.That(writer.IsFaulted, Is.False, writer.Exception?.ToString());

        rgw.StartGateway();
        stop.Cancel();
        await writer;
        await a.WaitCaughtUpAsync(120);
        Assert.That((await a.ReplicationAsync()).GetProperty("last_error").ValueKind, Is.EqualTo(JsonValueKind.Null));
        await a.StopAsync();

        using var restored = new TempDir();
        var target = System.IO.Path.Combine(restored.Path, "store");
        var m = (await BucketManifest.ReadAsync(bucket))!.Value.Manifest;
        await BucketRestore.MaterializeAsync(bucket, m, target);
        Assert.That(Snapshot(target), Is.EqualTo(Snapshot(StoreOf(dir.Path))), "nothing written while the gateway was down is lost");
    }

    [Test]
    public async Task ASecondLeaderOnTheSamePrefix_IsRefused_WithAClearMessage()
    {
        var rgw = Ceph.Cluster;
        using var bucket = Ceph.NewBucket(rgw);
        using var one = new TempDir();
        using var two = new TempDir();
        await using var a = await LeaderNode.StartAsync(rgw, bucket, one.Path);
        var holder = (await BucketManifest.ReadAsync(bucket))!.Value.Manifest.Leader!;
        var said = await LeaderNode.RefusedAsync(rgw, bucket, two.Path);
        Assert.That(said, Does.Contain("second leader").And.Contain(holder.Id).And.Contain(bucket.Root.ToString()));
        await PutAsync(a.Client, "still", [1]); // the first leader is unaffected
        await a.StopAsync();
    }

    [Test]
    public async Task ADamagedChunk_StopsTheRestoreWithAnErrorNamingIt_AndNothingIsServed()
    {
        var rgw = Ceph.Cluster;
        using var bucket = Ceph.NewBucket(rgw);
        using var first = new TempDir();
        using var fresh = new TempDir();
        await using (var a = await LeaderNode.StartAsync(rgw, bucket, first.Path))
        {
            await PutAsync(a.Client, "d", Enumerable.Range(0, 10));
            await a.WaitCaughtUpAsync();
            await a.StopAsync();
        }
        var chunk = (await BucketManifest.ReadAsync(bucket))!.Value.Manifest.Chunks[^1].Key;
        await LeaderTests.Overwrite(rgw, bucket, chunk);
        var said = await LeaderNode.RefusedAsync(rgw, bucket, fresh.Path);
        Assert.That(said, Does.Contain($"{bucket.Root}/{chunk}").And.Contain("damaged"));
        Assert.That(AdapterStore.IsStore(StoreOf(fresh.Path)), Is.False, "nothing from the damaged bucket is left to serve");
    }

    [Test]
    public async Task ALeaderWhoseLeaseWasTaken_StopsAcknowledgingWrites_AndIsNotReady()
    {
        var rgw = Ceph.Cluster;
        using var bucket = Ceph.NewBucket(rgw);
        using var dir = new TempDir();
        int metricsPort = FreePort();
        await using var a = await LeaderNode.StartAsync(rgw, bucket, dir.Path, "--lease", "3s", "--metrics", $"127.0.0.1:{metricsPort}");
        await PutAsync(a.Client, "x", [1, 2, 3]);
        using var http = new HttpClient();
        Assert.That((await http.GetAsync($"http://127.0.0.1:{metricsPort}/readyz")).StatusCode, Is.EqualTo(HttpStatusCode.OK));

        // Another node takes the lease (as it would once this one seemed gone).
        var (m, etag) = (await BucketManifest.ReadAsync(bucket))!.Value;
        m.Leader = new LeaderLease { Id = "usurper-42", Host = "elsewhere", Epoch = m.Leader!.Epoch + 1, Until = DateTime.UtcNow.AddMinutes(5) };
        await bucket.PutAsync(BucketLayout.Manifest, m.Encode(), ifMatch: etag);

        RpcException? refused = null;
        var until = DateTime.UtcNow.AddSeconds(30);
        for (int k = 10; refused == null && DateTime.UtcNow < until; k++)
        {
            try { await PutAsync(a.Client, "x", [k]); await Task.Delay(100); }
            catch (RpcException e) { refused = e; }
        }
        Assert.That(refused, Is.Not.Null, "writes were still acknowledged 30 s after the lease was taken");
        Assert.That(refused!.StatusCode, Is.EqualTo(StatusCode.Unavailable));
        Assert.That(refused.Status.Detail, Does.Contain("usurper-42"));
        var ready = await http.GetAsync($"http://127.0.0.1:{metricsPort}/readyz");
        Assert.That(ready.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(await ready.Content.ReadAsStringAsync(), Does.Contain("usurper-42"));
        Assert.That((await a.ReplicationAsync()).GetProperty("lost").GetString(), Does.Contain("usurper-42"));
        // Deletes too, and the bucket keeps the usurper's manifest.
        var del = Assert.ThrowsAsync<RpcException>(() => a.Client.DoActionAsync("delete", JsonSerializer.SerializeToUtf8Bytes(new { adapter = "x" })));
        Assert.That(del!.StatusCode, Is.EqualTo(StatusCode.Unavailable));
        Assert.That((await BucketManifest.ReadAsync(bucket))!.Value.Manifest.Leader!.Id, Is.EqualTo("usurper-42"));
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>Every adapter's every value (and its tags), read from a store directory without changing it.</summary>
    internal static SortedDictionary<string, string> Snapshot(string storeDir)
    {
        using var store = AdapterStore.OpenReadOnly(storeDir);
        var all = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var n in store.Names)
        {
            using var a = store.Get(n);
            foreach (var m in a.Modules)
                all[$"{n}/{m.Name}"] = Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(m.ToDense().AsSpan()));
            all[$"{n}#tags"] = string.Join(",", store.Description(n).Tags);
        }
        return all;
    }
}

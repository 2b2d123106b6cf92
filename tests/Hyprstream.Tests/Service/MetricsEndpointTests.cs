using System.Diagnostics.Metrics;
using System.Net;
using Grpc.Core;
using Grpc.Health.V1;
using Hyprstream.Runtime.Store;
using Hyprstream.Service;
using static Hyprstream.Tests.Service.FlightPutTests;
using static Hyprstream.Tests.Service.FlightServiceTests;

namespace Hyprstream.Tests.Service;

/// <summary>
/// `serve --metrics` in process: GET /metrics counts the work done (calls by method and status, weights and bytes
/// both ways, WAL, cache), /healthz and /readyz answer, readiness and the gRPC health status follow failing
/// checkpoints, and with metrics off no instrument exists.
/// </summary>
[TestFixture]
public sealed class MetricsEndpointTests
{
    private const string Q = "model.layers.0.self_attn.q_proj";

    [Test]
    public async Task Metrics_CountCallsWeightsAndBytes_ByMethodAndStatus()
    {
        await using var s = await FlightServer.StartAsync(metrics: true);
        Assert.That(s.Host.Metrics, Is.Not.Null);
        await s.Client.DoPutAsync(Cmd(CreateCmd("secret-adapter-name")), RowSchema, [
            (Batch((Q, 1, 2, 0.5f), (Q, 3, 4, -1f), (Q, 5, 6, 2f)), null),
            (Batch((Q, 7, 8, 0.25f)), null),
        ]);
        var info = await s.Client.GetFlightInfoAsync(Path("adapters", "secret-adapter-name"));
        for (int i = 0; i < 3; i++) Assert.That(await ReadAll(s.Client, info.Endpoint[0].Ticket), Has.Count.EqualTo(4));
        Assert.ThrowsAsync<RpcException>(() => s.Client.GetFlightInfoAsync(Path("adapters", "missing")));
        await s.Client.DoActionAsync("stats");   // describes the adapters, so active weights are known

        var m = await MetricsText.ScrapeAsync(s.Host.Metrics!.Address);
        Assert.Multiple(() =>
        {
            Assert.That(m.Sum("hyprstream_flight_calls_total", "method=\"DoPut\"", "status=\"OK\""), Is.EqualTo(1));
            Assert.That(m.Sum("hyprstream_flight_calls_total", "method=\"DoGet\"", "status=\"OK\""), Is.EqualTo(3));
            Assert.That(m.Sum("hyprstream_flight_calls_total", "method=\"GetFlightInfo\"", "status=\"NotFound\""), Is.EqualTo(1));
            Assert.That(m.Sum("hyprstream_flight_call_duration_seconds_count", "method=\"DoGet\""), Is.EqualTo(3));
            Assert.That(m.Sum("hyprstream_flight_doput_weights_total"), Is.EqualTo(4));
            Assert.That(m.Sum("hyprstream_flight_doput_batches_total"), Is.EqualTo(2));
            Assert.That(m.Sum("hyprstream_flight_doget_weights_total"), Is.EqualTo(12));
            Assert.That(m.Sum("hyprstream_flight_sent_bytes_total"), Is.GreaterThan(12 * 4));
            Assert.That(m.Sum("hyprstream_flight_received_bytes_total"), Is.GreaterThan(4 * 4));
            Assert.That(m.Sum("hyprstream_flight_active_calls"), Is.EqualTo(0));
            // The store: one adapter of 4 weights in 64×128, WAL records for the create and both batches, each fsynced.
            Assert.That(m.Sum("hyprstream_store_adapters"), Is.EqualTo(1));
            Assert.That(m.Sum("hyprstream_store_active_weights"), Is.EqualTo(4));
            Assert.That(m.Sum("hyprstream_store_sparsity_ratio"), Is.EqualTo(1 - 4.0 / (64 * 128)).Within(1e-9));
            Assert.That(m.Sum("hyprstream_wal_appends_total"), Is.GreaterThanOrEqualTo(3));
            Assert.That(m.Sum("hyprstream_wal_fsyncs_total"), Is.GreaterThanOrEqualTo(1));
            Assert.That(m.Sum("hyprstream_wal_fsync_duration_seconds_count"), Is.EqualTo(m.Sum("hyprstream_wal_fsyncs_total")));
            Assert.That(m.Sum("hyprstream_cache_resident_bytes", "tier=\"L1\""), Is.GreaterThan(0));
            Assert.That(m.Sum("hyprstream_cache_budget_bytes", "tier=\"L2\""), Is.EqualTo(CacheBudgets.Default.L2Bytes));
            Assert.That(m.Sum("hyprstream_cache_lookups_total"), Is.GreaterThan(0));
            Assert.That(m.Has("dotnet_process_memory_working_set_bytes"), Is.True, ".NET's own meter (GC, threads, memory)");
            // Bounded labels: no adapter name appears anywhere in the exposition.
            Assert.That(m.Text, Does.Not.Contain("secret-adapter-name"));
        });
    }

    [Test]
    public async Task Healthz_AndReadyz_Answer_AndUnknownPathsAre404()
    {
        await using var s = await FlightServer.StartAsync(metrics: true);
        using var http = new HttpClient { BaseAddress = s.Host.Metrics!.Address };
        var health = await http.GetAsync("healthz");
        Assert.That(health.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var ready = await http.GetAsync("readyz");
        Assert.That(ready.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await ready.Content.ReadAsStringAsync(), Does.StartWith("ready: serving 0 adapters"));
        Assert.That((await http.GetAsync("nothing-here")).StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public void Readiness_BeforeTheStoreIsOpen_SaysRecovering()
    {
        var r = new Readiness();
        Assert.That(r.Check(), Is.EqualTo((false, "recovering: the store is being opened and its write-ahead log replayed")));
        r.Stopping();
        Assert.That(r.Check().Ready, Is.False);
    }

    [Test]
    public async Task FailingCheckpoints_MakeReadyzAndGrpcHealthNotServing_UntilOneSucceeds()
    {
        await using var s = await FlightServer.StartAsync(metrics: true);
        using var http = new HttpClient { BaseAddress = s.Host.Metrics!.Address };
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(s.Host.Address);
        var health = new Health.HealthClient(channel);
        await s.Client.DoPutAsync(Cmd(CreateCmd("a")), RowSchema, [(Batch((Q, 1, 2, 0.5f)), null)]);

        // A real failure: the checkpoints folder replaced by a file, so writing a checkpoint fails (ENOTDIR).
        var folder = System.IO.Path.Combine(s.Dir.Path, ServiceStore.StoreFolder, AdapterStore.CheckpointFolder);
        var aside = folder + ".aside";
        Directory.Move(folder, aside);
        File.WriteAllText(folder, "not a folder");
        for (int i = 0; i < Readiness.FailingCheckpoints; i++)
            Assert.ThrowsAsync<RpcException>(() => s.Client.DoActionAsync("checkpoint"));
        var notReady = await http.GetAsync("readyz");
        Assert.That(notReady.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(await notReady.Content.ReadAsStringAsync(), Does.Contain("checkpoints keep failing (3 in a row"));
        Assert.That(await HealthWithin(health, HealthCheckResponse.Types.ServingStatus.NotServing), Is.EqualTo(HealthCheckResponse.Types.ServingStatus.NotServing));
        var m = await MetricsText.ScrapeAsync(s.Host.Metrics.Address);
        Assert.That(m.Sum("hyprstream_checkpoint_failures_total"), Is.EqualTo(3));
        Assert.That(m.Sum("hyprstream_checkpoint_failures_in_a_row"), Is.EqualTo(3));

        File.Delete(folder);
        Directory.Move(aside, folder);
        await s.Client.DoActionAsync("checkpoint");
        Assert.That((await http.GetAsync("readyz")).StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await HealthWithin(health, HealthCheckResponse.Types.ServingStatus.Serving), Is.EqualTo(HealthCheckResponse.Types.ServingStatus.Serving));
        m = await MetricsText.ScrapeAsync(s.Host.Metrics.Address);
        Assert.That(m.Sum("hyprstream_checkpoint_failures_in_a_row"), Is.EqualTo(0));
        Assert.That(m.Sum("hyprstream_checkpoints_total"), Is.EqualTo(1));
        Assert.That(m.Sum("hyprstream_checkpoint_duration_seconds_count", "outcome=\"ok\""), Is.EqualTo(1));
    }

    /// <summary>The gRPC health status once it is <paramref name="want"/> (it follows readiness once a second), or after 10 s.</summary>
    private static async Task<HealthCheckResponse.Types.ServingStatus> HealthWithin(Health.HealthClient health, HealthCheckResponse.Types.ServingStatus want)
    {
        HealthCheckResponse.Types.ServingStatus got = default;
        for (var until = DateTime.UtcNow.AddSeconds(10); DateTime.UtcNow < until; await Task.Delay(100))
            if ((got = (await health.CheckAsync(new HealthCheckRequest { Service = "arrow.flight.protocol.FlightService" })).Status) == want) break;
        return got;
    }

    [Test]
    public async Task MetricsOff_PublishesNoServiceOrStoreInstrument()
    {
        var published = new List<string>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (i, _) => { if (i.Meter.Name is StoreMetrics.MeterName or FlightMetrics.MeterName) lock (published) published.Add(i.Name); },
        };
        listener.Start();
        await using var s = await FlightServer.StartAsync();
        await s.Client.DoPutAsync(Cmd(CreateCmd("a")), RowSchema, [(Batch((Q, 1, 2, 0.5f)), null)]);
        Assert.That(s.Host.Metrics, Is.Null);
        lock (published) Assert.That(published, Is.Empty);
    }
}

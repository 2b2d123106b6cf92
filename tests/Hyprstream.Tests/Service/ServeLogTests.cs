using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Grpc.Core;
using Hyprstream.Flight.Rpc;
using static Hyprstream.Tests.Service.FlightServiceTests;

namespace Hyprstream.Tests.Service;

/// <summary>`serve --log-format json`: one JSON object per event, a request id per Flight call; bad options are clear errors.</summary>
[TestFixture]
public sealed class ServeLogTests
{
    [Test]
    public async Task Serve_LogFormatJson_OneObjectPerEvent_CheckpointsLogged_RefusalsCarryStatusReasonAndRequestId()
    {
        using var dir = new TempDir();
        var (server, line) = await ServeProcess.StartAsync(dir.Path, "--log-format", "json");
        using var serverProcess = server;
        string stderr;
        try
        {
            using (var client = new FlightClient(new Uri("http://" + ServeProcess.Authority(line))))
            {
                for (int i = 0; i < 2; i++)
                    Assert.That(Assert.ThrowsAsync<RpcException>(() => client.GetFlightInfoAsync(Path("adapters", "missing")))!.StatusCode, Is.EqualTo(StatusCode.NotFound));
                await client.DoActionAsync("checkpoint");
            }
            var err = server.StandardError.ReadToEndAsync();
            using (var kill = Process.Start("kill", ["-TERM", server.Id.ToString()])!) kill.WaitForExit();
            Assert.That(server.WaitForExit(30_000), Is.True);
            stderr = await err;
        }
        finally
        {
            if (!server.HasExited) server.Kill(entireProcessTree: true);
        }
        var events = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l =>
        {
            try { return JsonDocument.Parse(l).RootElement.Clone(); }
            catch (JsonException e) { throw new AssertionException($"not a JSON log line ({e.Message}): {l}"); }
        }).ToList();
        Assert.That(events.Any(e => e.GetProperty("Message").GetString()!.StartsWith("recovery:")), "a recovery summary at start");
        Assert.That(events.Any(e => e.GetProperty("Message").GetString() == "stopping"));
        var checkpoint = events.Single(e => e.GetProperty("EventId").GetInt32() == 20);
        Assert.That(checkpoint.GetProperty("Category").GetString(), Is.EqualTo("Hyprstream.Store"));
        Assert.That(checkpoint.GetProperty("State").GetProperty("Checkpoint").GetInt64(), Is.EqualTo(1));
        var refused = events.Where(e => e.GetProperty("EventId").GetInt32() == 10).ToList();
        Assert.That(refused, Has.Count.EqualTo(2));
        var ids = new HashSet<string>();
        foreach (var e in refused)
        {
            Assert.That(e.GetProperty("LogLevel").GetString(), Is.EqualTo("Warning"));
            var state = e.GetProperty("State");
            Assert.That(state.GetProperty("Method").GetString(), Is.EqualTo("GetFlightInfo"));
            Assert.That(state.GetProperty("Status").GetString(), Is.EqualTo("NotFound"));
            Assert.That(state.GetProperty("Reason").GetString(), Is.EqualTo("no adapter 'missing'"));
            var scope = e.GetProperty("Scopes").EnumerateArray().Single(s => s.TryGetProperty("RequestId", out _));
            ids.Add(scope.GetProperty("RequestId").GetString()!);
        }
        Assert.That(ids, Has.Count.EqualTo(2), "one request id per call");
    }

    [Test]
    public async Task Serve_BadLogFormat_BadMetricsAddress_OrPortInUse_AreClearErrors_AndOpenNoStore()
    {
        using var dir = new TempDir();
        var (code, _, err) = await ServeProcess.RunAsync(["serve", "--data", dir.Path, "--listen", "127.0.0.1:0", "--log-format", "xml"]);
        Assert.That((code, err.Trim()), Is.EqualTo((1, "hyprstream: --log-format 'xml' is not one of: text, json")));
        (code, _, err) = await ServeProcess.RunAsync(["serve", "--data", dir.Path, "--listen", "127.0.0.1:0", "--metrics", "nowhere"]);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(err, Does.Contain("--metrics 'nowhere' is not address:port (e.g. 127.0.0.1:9464"));
        (code, _, err) = await ServeProcess.RunAsync(["serve", "--data", dir.Path, "--listen", "127.0.0.1:0", "--log-level", "loud"]);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(err, Does.Contain("--log-level 'loud' is not one of"));

        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        (code, _, err) = await ServeProcess.RunAsync(["serve", "--data", dir.Path, "--listen", "127.0.0.1:0", "--metrics", $"127.0.0.1:{port}"]);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(err, Does.Contain($"--metrics 127.0.0.1:{port}: cannot listen there"));
        Assert.That(Directory.Exists(System.IO.Path.Combine(dir.Path, Hyprstream.Service.ServiceStore.StoreFolder)), Is.False, "nothing was opened or created");
    }
}

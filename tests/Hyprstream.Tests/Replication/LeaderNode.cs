using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Hyprstream.Flight.Rpc;
using Hyprstream.Replication;
using Hyprstream.Tests.Service;

namespace Hyprstream.Tests.Replication;

/// <summary>A `hyprstream serve --object-store` process leading a prefix of a test bucket, with a Flight client to it.</summary>
internal sealed class LeaderNode : IAsyncDisposable
{
    private readonly StringBuilder _stderr = new();
    private readonly Task _drain;

    public Process Server { get; }
    public string Authority { get; }
    public FlightClient Client { get; }
    public string DataDirectory { get; }

    private LeaderNode(Process server, string firstLine, string dataDir)
    {
        Server = server;
        Authority = ServeProcess.Authority(firstLine);
        Client = new FlightClient(new Uri("http://" + Authority));
        DataDirectory = dataDir;
        _drain = Task.Run(async () =>
        {
            while (await server.StandardError.ReadLineAsync() is { } line)
            {
                lock (_stderr) _stderr.AppendLine(line);
                TestContext.Progress.WriteLine("serve: " + line);
            }
        });
    }

    /// <summary>What the server logged so far.</summary>
    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    public static async Task<LeaderNode> StartAsync(CephRgw rgw, ObjectStore bucket, string dataDir, params string[] extra)
    {
        var (server, line) = await ServeProcess.StartAsync(dataDir, "127.0.0.1:0", Ceph.Environment(rgw),
            ["--object-store", bucket.Root.ToString(), .. extra.Contains("--ship-interval") ? extra : ["--ship-interval", "200ms", .. extra]]);
        return new LeaderNode(server, line, dataDir);
    }

    /// <summary>Starts serve and expects it to refuse to start: its exit code and what it printed.</summary>
    public static async Task<string> RefusedAsync(CephRgw rgw, ObjectStore bucket, string dataDir, params string[] extra)
    {
        var (code, stdout, stderr) = await ServeProcess.RunAsync(
            ["serve", "--data", dataDir, "--listen", "127.0.0.1:0", "--object-store", bucket.Root.ToString(), .. extra], Ceph.Environment(rgw));
        Assert.That(code, Is.Not.EqualTo(0), $"serve started where it should have refused: {stdout}");
        return stdout + stderr;
    }

    public async Task<JsonElement> StatsAsync()
    {
        var results = await Client.DoActionAsync("stats", "{}"u8.ToArray());
        return JsonDocument.Parse(results[0]).RootElement.Clone();
    }

    public async Task<JsonElement> ReplicationAsync() => (await StatsAsync()).GetProperty("replication");

    /// <summary>Waits until the bucket holds every record the node has made durable.</summary>
    public async Task WaitCaughtUpAsync(int seconds = 60)
    {
        var until = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var r = await ReplicationAsync();
            if (r.GetProperty("lag_records").GetUInt64() == 0 && r.GetProperty("shipped_seq").GetUInt64() >= r.GetProperty("local_seq").GetUInt64()) return;
            if (DateTime.UtcNow > until) Assert.Fail($"the leader did not catch up in {seconds} s: {r}");
            await Task.Delay(100);
        }
    }

    /// <summary>SIGTERM, and waits for a clean exit (the lease is released).</summary>
    public async Task StopAsync()
    {
        if (Server.HasExited) return;
        Process.Start("kill", ["-TERM", Server.Id.ToString()])!.WaitForExit();
        using var cts = new CancellationTokenSource(30_000);
        try { await Server.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { Assert.Fail("serve did not stop within 30 s of SIGTERM: " + Stderr); }
        await _drain;
        Assert.That(Server.ExitCode, Is.EqualTo(0), "serve's exit code after SIGTERM: " + Stderr);
    }

    /// <summary>SIGKILL: no shutdown at all.</summary>
    public void Kill()
    {
        Server.Kill(entireProcessTree: true);
        Server.WaitForExit(30_000);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (!Server.HasExited) Kill();
        await _drain.WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
        Server.Dispose();
    }
}

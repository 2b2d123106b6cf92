using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Hyprstream.Replication;

/// <summary>
/// A real single-node Ceph object store on loopback, for development, the tests and `bench replicate`: one monitor, one OSD on
/// Ceph's RAM-backed memstore, one radosgw serving S3 (Debian's ceph-mon, ceph-osd, radosgw, ceph-common). Everything
/// lives in a private temp folder with its own ceph.conf; the daemons are started here and stopped by their PIDs
/// (gateway, OSD, monitor; SIGTERM, then SIGKILL). The gateway can be stopped and started again on the same port
/// while the cluster keeps its objects (an object store that goes away mid-upload and comes back).
/// Start-up takes ~3 s on a 2-core machine (checked facts: shared/notes/object-store-ceph.md).
/// </summary>
public sealed class CephRgw : IDisposable
{
    public const string AccessKey = "HYPRSTREAMTESTKEY000";
    public const string SecretKey = "hyprstreamtestsecret0000000000000000000";
    private static readonly string[] Binaries = ["ceph-mon", "ceph-osd", "radosgw", "ceph", "monmaptool", "radosgw-admin"];

    private readonly string _dir;
    private readonly string _conf;
    private Process? _mon, _osd, _rgw;
    private readonly int _monPort;

    /// <summary>The S3 endpoint, http://127.0.0.1:PORT.</summary>
    public string Endpoint { get; }
    public int Port { get; }
    public string Directory => _dir;

    /// <summary>Null when every binary is installed, else why this machine cannot run one (for a test's skip reason).</summary>
    public static string? Unavailable()
    {
        var missing = Binaries.Where(b => Which(b) == null).ToList();
        return missing.Count == 0 ? null
            : $"Ceph is not installed ({string.Join(", ", missing)} not found); apt-get install ceph-mon ceph-osd radosgw ceph-common";
    }

    private static string? Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':').Append("/usr/sbin").Append("/usr/bin")
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    private CephRgw(string dir)
    {
        _dir = dir;
        _conf = Path.Combine(dir, "ceph.conf");
        _monPort = FreePort();
        Port = FreePort();
        Endpoint = $"http://127.0.0.1:{Port}";
    }

    /// <summary>Starts the cluster and its gateway; returns once an S3 request is answered. <paramref name="log"/> hears the steps.</summary>
    public static CephRgw Start(Action<string>? log = null, TimeSpan? timeout = null)
    {
        if (Unavailable() is { } why) throw new InvalidOperationException(why);
        var dir = Path.Combine(Path.GetTempPath(), "hs-ceph-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(dir);
        var c = new CephRgw(dir);
        try
        {
            c.Boot(log ?? (_ => { }), timeout ?? TimeSpan.FromSeconds(90));
            return c;
        }
        catch
        {
            c.Dispose();
            throw;
        }
    }

    private void Boot(Action<string> log, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        var fsid = Guid.NewGuid().ToString();
        File.WriteAllText(_conf, Config(fsid));
        var monmap = Path.Combine(_dir, "monmap");
        Run("monmaptool", $"--create --fsid {fsid} --addv a [v2:127.0.0.1:{_monPort}] {monmap}");
        Run("ceph-mon", $"-c {_conf} --mkfs -i a --monmap {monmap}");
        _mon = Daemon("ceph-mon", $"-c {_conf} -f -i a", "mon");
        WaitFor(() => TryRun("ceph", $"-c {_conf} mon stat", out _), "the monitor", deadline, timeout);
        log($"ceph-mon up (pid {_mon.Id})");

        var uuid = Guid.NewGuid().ToString();
        var id = Run("ceph", $"-c {_conf} osd new {uuid}").Trim();
        System.IO.Directory.CreateDirectory(Path.Combine(_dir, $"osd.{id}"));
        Run("ceph-osd", $"-c {_conf} -i {id} --mkfs --osd-uuid {uuid}");
        _osd = Daemon("ceph-osd", $"-c {_conf} -f -i {id}", "osd");
        WaitFor(() => TryRun("ceph", $"-c {_conf} osd dump --format json", out var json) && json.Contains("\"up\":1"), "the OSD", deadline, timeout);
        log($"ceph-osd up (pid {_osd.Id})");

        StartGateway(deadline, timeout);
        Run("radosgw-admin", $"-c {_conf} user create --uid=hyprstream --display-name=hyprstream --access-key={AccessKey} --secret-key={SecretKey}");
        log($"radosgw up on {Endpoint} (pid {_rgw!.Id}) after {deadline.Elapsed.TotalSeconds:0.0} s");
    }

    /// <summary>The gateway alone, started again (after <see cref="StopGateway"/>) on the same port; returns once it answers.</summary>
    public void StartGateway() => StartGateway(Stopwatch.StartNew(), TimeSpan.FromSeconds(60));

    private void StartGateway(Stopwatch clock, TimeSpan timeout)
    {
        if (_rgw is { HasExited: false }) return;
        _rgw?.Dispose();
        _rgw = Daemon("radosgw", $"-c {_conf} -f -n client.rgw.a", "rgw");
        WaitFor(() => Answers(), "radosgw", clock, timeout);
    }

    /// <summary>Stops the gateway (SIGKILL: as abrupt as a crash); the cluster and its objects stay.</summary>
    public void StopGateway()
    {
        if (_rgw is { HasExited: false } p) { p.Kill(); p.WaitForExit(10_000); }
    }

    private bool Answers()
    {
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            var body = http.GetStringAsync(Endpoint + "/").GetAwaiter().GetResult();
            return body.Contains("ListAllMyBucketsResult", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { return false; }
    }

    private string Config(string fsid)
    {
        var d = _dir;
        var sb = new StringBuilder();
        sb.AppendLine("[global]");
        sb.AppendLine($"fsid = {fsid}");
        sb.AppendLine($"mon host = [v2:127.0.0.1:{_monPort}]");
        sb.AppendLine("public addr = 127.0.0.1");
        sb.AppendLine("cluster addr = 127.0.0.1");
        sb.AppendLine("ms bind msgr1 = false");
        sb.AppendLine("auth cluster required = none");
        sb.AppendLine("auth service required = none");
        sb.AppendLine("auth client required = none");
        sb.AppendLine("auth supported = none");
        sb.AppendLine("osd pool default size = 1");
        sb.AppendLine("osd pool default min size = 1");
        sb.AppendLine("mon allow pool size one = true");
        sb.AppendLine("osd pool default pg num = 8");
        sb.AppendLine("osd pool default pgp num = 8");
        sb.AppendLine("osd pool default pg autoscale mode = off");
        sb.AppendLine("mon max pg per osd = 1000");
        sb.AppendLine("osd crush chooseleaf type = 0");
        sb.AppendLine("paxos propose interval = 0.1");
        sb.AppendLine("mon warn on pool no redundancy = false");
        sb.AppendLine($"run dir = {d}/run");
        sb.AppendLine($"admin socket = {d}/run/$name.asok");
        sb.AppendLine($"pid file = {d}/run/$name.pid");
        sb.AppendLine($"log file = {d}/log/$name.log");
        sb.AppendLine($"keyring = {d}/keyring");
        sb.AppendLine($"mon data = {d}/mon.$id");
        sb.AppendLine("[osd]");
        sb.AppendLine("osd objectstore = memstore");
        sb.AppendLine("memstore device bytes = 4294967296");
        sb.AppendLine($"osd data = {d}/osd.$id");
        sb.AppendLine("[client]");
        sb.AppendLine("ms mon client mode = crc secure");
        sb.AppendLine($"rgw frontends = beast endpoint=127.0.0.1:{Port}");
        sb.AppendLine($"rgw data = {d}/rgw.a");
        System.IO.Directory.CreateDirectory(Path.Combine(d, "run"));
        System.IO.Directory.CreateDirectory(Path.Combine(d, "log"));
        System.IO.Directory.CreateDirectory(Path.Combine(d, "rgw.a"));
        return sb.ToString();
    }

    private Process Daemon(string exe, string args, string name)
    {
        var psi = new ProcessStartInfo(Which(exe)!, args)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {exe}");
        var log = Path.Combine(_dir, "log", name + ".out");
        var writer = TextWriter.Synchronized(new StreamWriter(log, append: true) { AutoFlush = true });
        p.OutputDataReceived += (_, e) => { if (e.Data != null) try { writer.WriteLine(e.Data); } catch (ObjectDisposedException) { } };
        p.ErrorDataReceived += (_, e) => { if (e.Data != null) try { writer.WriteLine(e.Data); } catch (ObjectDisposedException) { } };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    private string Run(string exe, string args)
    {
        if (!TryRun(exe, args, out var output, out var error))
            throw new InvalidOperationException($"{exe} {args} failed: {error.Trim()} {output.Trim()} (logs in {_dir}/log)");
        return output;
    }

    private bool TryRun(string exe, string args, out string output) => TryRun(exe, args, out output, out _);

    private static bool TryRun(string exe, string args, out string output, out string error)
    {
        var psi = new ProcessStartInfo(Which(exe) ?? exe, args) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(30_000)) { try { p.Kill(); } catch (InvalidOperationException) { } error = "timed out"; return false; }
        error = err.GetAwaiter().GetResult();
        return p.ExitCode == 0;
    }

    private void WaitFor(Func<bool> ready, string what, Stopwatch clock, TimeSpan timeout)
    {
        while (!ready())
        {
            foreach (var (p, n) in new[] { (_mon, "ceph-mon"), (_osd, "ceph-osd"), (_rgw, "radosgw") })
                if (p is { HasExited: true } && !(n == "radosgw" && p != _rgw))
                    throw new InvalidOperationException($"{n} exited with {p.ExitCode} while waiting for {what} (logs in {_dir}/log)");
            if (clock.Elapsed > timeout) throw new TimeoutException($"{what} did not come up within {timeout.TotalSeconds:0} s (logs in {_dir}/log)");
            Thread.Sleep(100);
        }
    }

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public void Dispose()
    {
        foreach (var p in new[] { _rgw, _osd, _mon })
        {
            if (p == null) continue;
            try
            {
                if (!p.HasExited)
                {
                    Terminate(p.Id);
                    if (!p.WaitForExit(10_000)) { p.Kill(); p.WaitForExit(5_000); }
                }
            }
            catch (InvalidOperationException) { }
            p.Dispose();
        }
        try { System.IO.Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SysKill(int pid, int sig);

    private static void Terminate(int pid) => SysKill(pid, 15);
}

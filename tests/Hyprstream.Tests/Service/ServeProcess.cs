using System.Diagnostics;

namespace Hyprstream.Tests.Service;

/// <summary>`hyprstream serve` started as a separate process, as users run it; the caller kills or stops it.</summary>
internal static class ServeProcess
{
    /// <summary>
    /// Starts `serve --data DIR --listen 127.0.0.1:0` with <paramref name="extra"/> arguments and waits (60 s at most)
    /// for its first line, which names the address. The process's stderr is left for the caller to read.
    /// </summary>
    public static Task<(Process Server, string FirstLine)> StartAsync(string dataDir, params string[] extra) =>
        StartAsync(dataDir, "127.0.0.1:0", null, extra);

    /// <summary>As above with another --listen address and extra environment variables (null: unset).</summary>
    public static async Task<(Process Server, string FirstLine)> StartAsync(string dataDir, string listen, IReadOnlyDictionary<string, string?>? env, params string[] extra)
    {
        var psi = StartInfo(["serve", "--data", dataDir, "--listen", listen, .. extra], env);
        var server = Process.Start(psi)!;
        var lineTask = server.StandardOutput.ReadLineAsync();
        if (await Task.WhenAny(lineTask, Task.Delay(60_000)) != lineTask)
        {
            server.Kill(entireProcessTree: true);
            server.Dispose();
            Assert.Fail("serve printed nothing within 60 s");
        }
        var line = await lineTask;
        if (line == null)
        {
            var err = await server.StandardError.ReadToEndAsync();
            server.Dispose();
            throw new AssertionException("serve exited: " + err);
        }
        return (server, line);
    }

    /// <summary>`dotnet hyprstream.dll ARGS` with stdout and stderr redirected and <paramref name="env"/> applied.</summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? env = null)
    {
        var dll = Path.Combine(TestContext.CurrentContext.TestDirectory, "hyprstream.dll");
        var psi = new ProcessStartInfo("dotnet", [dll, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (k, v) in env ?? new Dictionary<string, string?>())
        {
            if (v == null) psi.Environment.Remove(k);
            else psi.Environment[k] = v;
        }
        return psi;
    }

    /// <summary>Runs `hyprstream ARGS` to its end (60 s at most); its exit code, stdout and stderr.</summary>
    public static async Task<(int Code, string Out, string Err)> RunAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? env = null)
    {
        using var p = Process.Start(StartInfo(args, env))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(60_000);
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"hyprstream {string.Join(' ', args)} did not exit within 60 s; it printed: {await stdout}");
        }
        return (p.ExitCode, await stdout, await stderr);
    }

    /// <summary>host:port from the first line ("… at grpc+tcp://HOST:PORT …").</summary>
    public static string Authority(string firstLine) =>
        firstLine[(firstLine.IndexOf("grpc+tcp://", StringComparison.Ordinal) + "grpc+tcp://".Length)..].Split(' ')[0];
}

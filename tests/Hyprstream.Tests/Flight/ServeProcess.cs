using System.Diagnostics;

namespace Hyprstream.Tests.Flight;

/// <summary>`hyprstream serve` started as a separate process, as users run it; the caller kills or stops it.</summary>
internal static class ServeProcess
{
    /// <summary>
    /// Starts `serve --data DIR --listen 127.0.0.1:0` with <paramref name="extra"/> arguments and waits (60 s at most)
    /// for its first line, which names the address. The process's stderr is left for the caller to read.
    /// </summary>
    public static async Task<(Process Server, string FirstLine)> StartAsync(string dataDir, params string[] extra)
    {
        var dll = Path.Combine(TestContext.CurrentContext.TestDirectory, "hyprstream.dll");
        var psi = new ProcessStartInfo("dotnet", [dll, "serve", "--data", dataDir, "--listen", "127.0.0.1:0", .. extra])
        { RedirectStandardOutput = true, RedirectStandardError = true };
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

    /// <summary>host:port from the first line ("… at grpc+tcp://HOST:PORT …").</summary>
    public static string Authority(string firstLine) =>
        firstLine[(firstLine.IndexOf("grpc+tcp://", StringComparison.Ordinal) + "grpc+tcp://".Length)..].Split(' ')[0];
}

using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Hyprstream.Tests.Packaging;

/// <summary>
/// A scratch folder with its own NuGet world: a nuget.config whose only sources are artifacts/packages (our packages)
/// and the repository build's package folder used read-only as a feed (for System.Numerics.Tensors and the like), its
/// own global packages folder and HTTP cache, and its own CLI home — so restoring or installing our packages here
/// leaves nothing in ~/.nuget or ~/.dotnet, and never picks up a stale copy from there.
/// </summary>
internal sealed class IsolatedNuGet : IDisposable
{
    private readonly TempDir _dir = new();

    public IsolatedNuGet(string localFeed)
    {
        var upstream = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p
            : System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        Directory.CreateDirectory(Packages);
        File.WriteAllText(ConfigFile, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config><add key="globalPackagesFolder" value="{Packages}" /></config>
              <packageSources>
                <clear />
                <add key="hyprstream-local" value="{localFeed}" />
                <add key="repository-restore" value="{upstream}" />
              </packageSources>
            </configuration>
            """);
    }

    public string Path => _dir.Path;
    public string ConfigFile => _dir.File("nuget.config");
    public string Packages => _dir.File("packages");

    /// <summary>The .NET install that runs these tests (apphosts of installed tools need it as DOTNET_ROOT).</summary>
    public static string DotnetRoot => System.IO.Path.GetFullPath(System.IO.Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));

    /// <summary>A process start for <paramref name="file"/> in this world: NuGet and the CLI point here, the MSBuild
    /// variables `dotnet test` leaves in the environment are removed.</summary>
    public ProcessStartInfo Start(string file, IEnumerable<string> args, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(file, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? Path,
        };
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToList())
            psi.Environment.Remove(key);
        psi.Environment["NUGET_PACKAGES"] = Packages;
        psi.Environment["NUGET_HTTP_CACHE_PATH"] = _dir.File("http-cache");
        psi.Environment["NUGET_PLUGINS_CACHE_PATH"] = _dir.File("plugins-cache");
        psi.Environment["DOTNET_CLI_HOME"] = _dir.File("home");
        psi.Environment["DOTNET_ROOT"] = DotnetRoot;
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_CLI_WORKLOAD_UPDATE_NOTIFY_DISABLE"] = "1";
        psi.Environment.Remove("HYPRSTREAM_NATIVE_DIR");
        psi.Environment.Remove("HYPRSTREAM_PTX");
        return psi;
    }

    /// <summary>Runs to the end (<paramref name="timeoutSeconds"/> at most); its exit code and output.</summary>
    public static async Task<(int Code, string Out, string Err)> RunAsync(ProcessStartInfo psi, int timeoutSeconds = 300)
    {
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{psi.FileName} {string.Join(' ', psi.ArgumentList)} did not finish within {timeoutSeconds} s: {await stdout} {await stderr}");
        }
        return (p.ExitCode, await stdout, await stderr);
    }

    public void Dispose() => _dir.Dispose();
}

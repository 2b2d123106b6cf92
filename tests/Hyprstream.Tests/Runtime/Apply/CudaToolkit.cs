using System.Diagnostics;

namespace Hyprstream.Tests;

/// <summary>
/// The CUDA toolkit's tools for the tests that check the built kernels without a GPU (ptxas, cuobjdump). Where the
/// toolkit is absent those tests are skipped with the reason; HYPRSTREAM_REQUIRE_CUDA_TOOLKIT=1 (set by .ci/run, which
/// installs the toolkit) turns the skip into a failure, so CI cannot pass by skipping them.
/// </summary>
internal static class CudaToolkit
{
    public const string RequireVariable = "HYPRSTREAM_REQUIRE_CUDA_TOOLKIT";

    public static bool Required => Environment.GetEnvironmentVariable(RequireVariable) == "1";

    /// <summary>Skips the test with <paramref name="reason"/>, or fails it where the toolkit is required.</summary>
    public static void Missing(string reason)
    {
        if (Required) Assert.Fail($"{reason} ({RequireVariable}=1: the CUDA toolkit is required here)");
        Assert.Ignore(reason);
    }

    /// <summary>The tool's path: PATH, $CUDA_HOME/bin, /usr/local/cuda/bin, Debian's toolkit directory; else skips.</summary>
    public static string Tool(string name)
    {
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).ToList();
        if (Environment.GetEnvironmentVariable("CUDA_HOME") is { Length: > 0 } home) dirs.Add(Path.Combine(home, "bin"));
        dirs.AddRange(["/usr/local/cuda/bin", "/usr/lib/nvidia-cuda-toolkit/bin"]);
        var found = dirs.Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
        if (found == null) Missing($"{name} not found: install a CUDA toolkit (Debian: nvidia-cuda-toolkit, contrib non-free)");
        return found!;
    }

    /// <summary>Runs a program to its end (at most 3 minutes) and returns its exit code and output (stdout + stderr).</summary>
    public static (int ExitCode, string Output) Run(string program, IEnumerable<string> args, IDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.That(p.WaitForExit(180_000), Is.True, $"{program} did not finish in 3 minutes");
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}

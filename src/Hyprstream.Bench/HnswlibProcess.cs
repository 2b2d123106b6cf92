using System.Diagnostics;
using System.Text.Json;

namespace Hyprstream.Bench;

/// <summary>
/// hnswlib (Debian's python3-hnswlib) in a child process, built on the same .fvecs files as ours and asked for one ef
/// at a time (hnswlib_compare.py --serve), so the two indexes are timed interleaved in one run under the same load.
/// </summary>
internal sealed class HnswlibProcess : IDisposable
{
    public sealed record Head(double BuildSeconds, double BuildAllSeconds, int Threads, long MemoryBytes);
    public sealed record Row(double Recall, double QpsBatch, double QpsQuery, double QpsAll);

    private readonly Process _process;
    public Head Built { get; }

    private HnswlibProcess(Process process, Head head)
    {
        _process = process;
        Built = head;
    }

    /// <summary>Why hnswlib cannot run here (no python3 or no hnswlib module), or null when it can.</summary>
    public static string? Unavailable()
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("/usr/bin/python3", ["-c", "import hnswlib, numpy"]) { RedirectStandardError = true })!;
            p.WaitForExit();
            return p.ExitCode == 0 ? null : "python3 cannot import hnswlib/numpy (apt-get install python3-hnswlib python3-numpy)";
        }
        catch (System.ComponentModel.Win32Exception) { return "no /usr/bin/python3 (apt-get install python3-hnswlib)"; }
    }

    /// <summary>Starts the script and waits for its builds (1 thread, then all threads).</summary>
    public static HnswlibProcess Start(string baseFile, string queryFile, string truthFile, string space, int m, int efConstruction)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "hnswlib_compare.py");
        if (!File.Exists(script)) throw new FileNotFoundException($"{script} is missing (it is copied next to the bench assembly by the build)");
        var psi = new ProcessStartInfo("/usr/bin/python3", [script, baseFile, queryFile, truthFile, "--space", space, "--M", m.ToString(),
            "--ef-construction", efConstruction.ToString(), "--serve"])
        { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = false };
        var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start python3");
        var line = p.StandardOutput.ReadLine() ?? throw new InvalidOperationException($"hnswlib_compare.py exited ({Exit(p)}) before building");
        using var doc = JsonDocument.Parse(line);
        var r = doc.RootElement;
        return new HnswlibProcess(p, new Head(r.GetProperty("build_s").GetDouble(), r.GetProperty("build_all_s").GetDouble(),
            r.GetProperty("threads").GetInt32(), r.GetProperty("memory_bytes").GetInt64()));
    }

    public Row Measure(int ef)
    {
        _process.StandardInput.WriteLine($"ef {ef}");
        _process.StandardInput.Flush();
        var line = _process.StandardOutput.ReadLine() ?? throw new InvalidOperationException($"hnswlib_compare.py exited ({Exit(_process)})");
        using var doc = JsonDocument.Parse(line);
        var r = doc.RootElement;
        return new Row(r.GetProperty("recall").GetDouble(), r.GetProperty("qps_batch").GetDouble(), r.GetProperty("qps_query").GetDouble(),
            r.GetProperty("qps_all").GetDouble());
    }

    private static string Exit(Process p) => p.WaitForExit(5000) ? $"exit code {p.ExitCode}" : "still running";

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.WriteLine("quit");
                _process.StandardInput.Close();
                if (!_process.WaitForExit(10_000)) _process.Kill();
            }
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }
}

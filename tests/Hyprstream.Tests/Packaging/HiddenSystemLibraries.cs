using System.Diagnostics;

namespace Hyprstream.Tests.Packaging;

/// <summary>
/// Runs a command with the host's copies of the libraries we bundle (Debian's OpenVDB, TBB, Blosc, Boost, Imath,
/// zstd …) hidden from the loader: a private mount namespace (`unshare -m`, root only) in which an empty file is
/// bind-mounted over each of them, so a load that reaches /usr/lib fails ("file too short") instead of quietly
/// working. Nothing outside the namespace sees the mounts; they end with the process.
/// </summary>
internal static class HiddenSystemLibraries
{
    /// <summary>Why hiding is not possible here, or null when it is (root, and unshare -m works).</summary>
    public static string? Unavailable { get; } = Probe();

    private static string? Probe()
    {
        if (!Environment.IsPrivilegedProcess) return "hiding the system libraries needs root (unshare -m + bind mounts)";
        try
        {
            using var p = Process.Start(new ProcessStartInfo("unshare", ["-m", "true"]) { RedirectStandardError = true })!;
            p.WaitForExit(10_000);
            return p.ExitCode == 0 ? null : $"unshare -m fails here: {p.StandardError.ReadToEnd().Trim()}";
        }
        catch (System.ComponentModel.Win32Exception e) { return $"unshare is not available: {e.Message}"; }
    }

    /// <summary>The host's files (symlinks resolved) for the library names in <paramref name="names"/> that exist.</summary>
    public static IReadOnlyList<string> SystemCopies(IEnumerable<string> names)
    {
        string[] dirs = ["/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib", "/usr/local/lib"];
        return names.SelectMany(n => dirs.Select(d => Path.Combine(d, n)))
            .Where(File.Exists)
            .Select(f => new FileInfo(f).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? Path.GetFullPath(f))
            .Distinct().ToList();
    }

    /// <summary>
    /// <paramref name="psi"/> rewritten to run under `unshare -m` with <paramref name="hide"/> covered by
    /// <paramref name="emptyFile"/>. The wrapper checks each file reads as empty before it execs the command (exit 97
    /// otherwise), and execs it, so the process id stays the command's.
    /// </summary>
    public static ProcessStartInfo Wrap(ProcessStartInfo psi, IReadOnlyList<string> hide, string emptyFile)
    {
        const string script = """
            empty=$1; shift
            while [ "$1" != -- ]; do mount --bind "$empty" "$1" || exit 96; [ ! -s "$1" ] || exit 97; shift; done
            shift
            exec "$@"
            """;
        var wrapped = new ProcessStartInfo("unshare", ["-m", "--", "sh", "-c", script, "sh", emptyFile, .. hide, "--", psi.FileName, .. psi.ArgumentList])
        {
            RedirectStandardOutput = psi.RedirectStandardOutput,
            RedirectStandardError = psi.RedirectStandardError,
            WorkingDirectory = psi.WorkingDirectory,
        };
        wrapped.Environment.Clear();
        foreach (var (k, v) in psi.Environment) wrapped.Environment[k] = v;
        return wrapped;
    }
}

using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Hyprstream.Tests.Packaging;

/// <summary>What the loader will look for: an ELF file's DT_NEEDED and RUNPATH (readelf -d), and where ldd resolves each.</summary>
internal static partial class ElfDependencies
{
    /// <summary>The libraries the package may take from the host (packaging/system-libraries.txt: glibc, libstdc++, libgcc_s).</summary>
    public static IReadOnlySet<string> SystemLibraries(string repoRoot) =>
        File.ReadAllLines(Path.Combine(repoRoot, "packaging", "system-libraries.txt"))
            .Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToHashSet(StringComparer.Ordinal);

    public static bool IsElf(string path)
    {
        Span<byte> head = stackalloc byte[4];
        using var f = File.OpenRead(path);
        return f.ReadAtLeast(head, 4, throwOnEndOfStream: false) == 4 && head.SequenceEqual((ReadOnlySpan<byte>)[0x7F, (byte)'E', (byte)'L', (byte)'F']);
    }

    /// <summary>DT_NEEDED entries, DT_RPATH and DT_RUNPATH (null when absent) of <paramref name="path"/>.</summary>
    public static (IReadOnlyList<string> Needed, string? RPath, string? RunPath) Read(string path)
    {
        var output = Run("readelf", ["-d", "-W", path]);
        var needed = NeededLine().Matches(output).Select(m => m.Groups[1].Value).ToList();
        string? Tagged(string tag) => PathLine().Matches(output).FirstOrDefault(m => m.Groups[1].Value == tag)?.Groups[2].Value;
        return (needed, Tagged("RPATH"), Tagged("RUNPATH"));
    }

    /// <summary>Each library ldd lists for <paramref name="path"/> and where it resolves (null: "not found").</summary>
    public static IReadOnlyList<(string Name, string? Path)> Resolve(string path, Func<ProcessStartInfo, ProcessStartInfo>? wrap = null)
    {
        var output = Run("ldd", [path], wrap);
        var list = new List<(string, string?)>();
        foreach (var line in output.Split('\n'))
        {
            if (LddLine().Match(line) is not { Success: true } m) continue;
            var target = m.Groups[2].Value;
            list.Add((m.Groups[1].Value, target.StartsWith("not found", StringComparison.Ordinal) ? null : target.Split(' ')[0]));
        }
        return list;
    }

    private static string Run(string file, string[] args, Func<ProcessStartInfo, ProcessStartInfo>? wrap = null)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (wrap != null) psi = wrap(psi);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        Assert.That(p.WaitForExit(60_000), Is.True, $"{file} did not finish");
        Assert.That(p.ExitCode, Is.EqualTo(0), $"{file} {string.Join(' ', args)}: {stderr}");
        return stdout.Result;
    }

    [GeneratedRegex(@"\(NEEDED\)\s+Shared library: \[([^\]]+)\]")]
    private static partial Regex NeededLine();

    [GeneratedRegex(@"\((RUNPATH|RPATH)\)\s+Library (?:runpath|rpath): \[([^\]]*)\]")]
    private static partial Regex PathLine();

    [GeneratedRegex(@"^\s*(\S+) => (.+?)\s*(?:\(0x[0-9a-f]+\))?$")]
    private static partial Regex LddLine();
}

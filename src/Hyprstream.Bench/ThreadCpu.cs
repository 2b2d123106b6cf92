namespace Hyprstream.Bench;

/// <summary>
/// CPU time of this process's threads grouped by thread name, from /proc/self/task (Linux; empty elsewhere). The
/// store's background threads are named (hyprstream-checkpointer, hyprstream-wal-flusher), so a benchmark can tell
/// the work a transfer costs on its own path from the checkpoints that run beside it. Resolution: one clock tick.
/// </summary>
internal static class ThreadCpu
{
    private const double TicksPerSecond = 100; // USER_HZ on Linux

    public static Dictionary<string, double> Snapshot()
    {
        var byName = new Dictionary<string, double>(StringComparer.Ordinal);
        if (!Directory.Exists("/proc/self/task")) return byName;
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                var name = File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n');
                var stat = File.ReadAllText(Path.Combine(task, "stat"));
                // Fields after the parenthesised name: state is field 3, utime 14, stime 15 (1-based).
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                double seconds = (long.Parse(fields[11]) + long.Parse(fields[12])) / TicksPerSecond;
                byName[name] = byName.GetValueOrDefault(name) + seconds;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException) { } // the thread ended
        }
        return byName;
    }

    /// <summary>CPU seconds spent between two snapshots by threads whose name starts with <paramref name="prefix"/>.</summary>
    public static double Between(Dictionary<string, double> before, Dictionary<string, double> after, string prefix) =>
        after.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).Sum(kv => kv.Value - before.GetValueOrDefault(kv.Key));
}

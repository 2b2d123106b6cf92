namespace Hyprstream.Runtime.Store;

public sealed record FsyncPolicy(FsyncMode Mode, TimeSpan BatchInterval)
{
    public static readonly FsyncPolicy Always = new(FsyncMode.Always, TimeSpan.Zero);
    public static readonly FsyncPolicy Never = new(FsyncMode.Never, TimeSpan.Zero);
    public static FsyncPolicy Batch(double milliseconds = 2) => new(FsyncMode.Batch, TimeSpan.FromMilliseconds(milliseconds));
    public static readonly FsyncPolicy Default = Batch();

    /// <summary>Parses "always", "never", "batch" or "batch(5)" / "batch:5" (milliseconds).</summary>
    public static FsyncPolicy Parse(string text)
    {
        var t = text.Trim().ToLowerInvariant();
        if (t == "always") return Always;
        if (t == "never") return Never;
        if (t == "batch") return Default;
        if (t.StartsWith("batch") && double.TryParse(t[5..].Trim('(', ')', ':', ' ', 'm', 's'), System.Globalization.CultureInfo.InvariantCulture, out var ms) && ms > 0)
            return Batch(ms);
        throw new ArgumentException($"unknown fsync policy '{text}'; use always, batch, batch(MS) or never");
    }

    public override string ToString() => Mode == FsyncMode.Batch ? $"batch({BatchInterval.TotalMilliseconds:0.###}ms)" : Mode.ToString().ToLowerInvariant();
}

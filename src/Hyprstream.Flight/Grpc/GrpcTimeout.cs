namespace Hyprstream.Flight.Grpc;

/// <summary>The `grpc-timeout` header: 1–8 ASCII digits and a unit (H, M, S, m, u, n).</summary>
public static class GrpcTimeout
{
    public static bool TryParse(string? value, out TimeSpan timeout)
    {
        timeout = default;
        if (string.IsNullOrEmpty(value) || value.Length < 2 || value.Length > 9) return false;
        if (!long.TryParse(value.AsSpan(0, value.Length - 1), System.Globalization.NumberStyles.None, null, out var n)) return false;
        double ticks = value[^1] switch
        {
            'H' => n * (double)TimeSpan.TicksPerHour,
            'M' => n * (double)TimeSpan.TicksPerMinute,
            'S' => n * (double)TimeSpan.TicksPerSecond,
            'm' => n * (double)TimeSpan.TicksPerMillisecond,
            'u' => n * 10.0,
            'n' => n / 100.0,
            _ => -1,
        };
        if (ticks < 0) return false;
        timeout = TimeSpan.FromTicks((long)Math.Min(ticks, TimeSpan.MaxValue.Ticks));
        return true;
    }

    /// <summary>Encodes a timeout in milliseconds (at most 8 digits), as clients send it.</summary>
    public static string Format(TimeSpan timeout)
    {
        long ms = Math.Max(1, (long)Math.Ceiling(timeout.TotalMilliseconds));
        return ms < 100_000_000 ? $"{ms}m" : $"{Math.Min(99_999_999, (long)Math.Ceiling(timeout.TotalSeconds))}S";
    }
}

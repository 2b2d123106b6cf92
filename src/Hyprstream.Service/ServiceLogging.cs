using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Hyprstream.Service;

/// <summary>
/// The service's log output through Microsoft.Extensions.Logging, on standard error: <c>text</c> (one readable line
/// per event, with the call's request id) or <c>json</c> (one JSON object per line: timestamp, level, category,
/// message, the message's named values and the scopes, among them RequestId and Method).
/// </summary>
public static class ServiceLogging
{
    public static readonly string[] Formats = ["text", "json"];

    public static ILoggerFactory Create(string format, LogLevel minimum = LogLevel.Information) => format switch
    {
        "text" => LoggerFactory.Create(b => b.SetMinimumLevel(minimum)
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
            .AddSimpleConsole(o => { o.SingleLine = true; o.IncludeScopes = true; o.TimestampFormat = "HH:mm:ss "; })),
        "json" => LoggerFactory.Create(b => b.SetMinimumLevel(minimum)
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
            .AddJsonConsole(o => { o.IncludeScopes = true; o.UseUtcTimestamp = true; o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ"; })),
        _ => throw new ArgumentException($"--log-format '{format}' is not one of: {string.Join(", ", Formats)}"),
    };

    /// <summary>Parses a --log-level value (trace, debug, information, warning, error).</summary>
    public static LogLevel ParseLevel(string s) =>
        Enum.TryParse<LogLevel>(s, ignoreCase: true, out var level) && level != LogLevel.None && Enum.IsDefined(level) ? level
            : throw new ArgumentException($"--log-level '{s}' is not one of: trace, debug, information, warning, error, critical");
}

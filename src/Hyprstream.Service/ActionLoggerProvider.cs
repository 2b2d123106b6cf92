using Microsoft.Extensions.Logging;

namespace Hyprstream.Service;

/// <summary>
/// Log events as one line each to a callback (<see cref="FlightServiceOptions.Log"/>): how hosts started without a
/// logger factory (tests, `bench flight`) still see what the service says. Information and above; scopes dropped.
/// </summary>
internal sealed class ActionLoggerProvider(Action<string> write) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger(write);

    public void Dispose() { }

    private sealed class Logger(Action<string> write) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            var text = formatter(state, exception);
            write(logLevel >= LogLevel.Warning ? $"{logLevel.ToString().ToLowerInvariant()}: {text}" : text);
        }
    }
}

using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hyprstream.Service;

/// <summary>
/// Where the service's own events go: <see cref="FlightServiceOptions.Loggers"/> when given (`serve --log-format`),
/// else one line per event to <see cref="FlightServiceOptions.Log"/> (tests, benchmarks), else the host app's logging.
/// A factory made here is disposed with the container.
/// </summary>
internal sealed class FlightLoggers(ILoggerFactory factory, bool owned) : IDisposable
{
    public ILoggerFactory Factory { get; } = factory;

    public ILogger Create(string category) => Factory.CreateLogger(category);

    public static FlightLoggers For(FlightServiceOptions options, IServiceProvider services) =>
        options.Loggers != null ? new(options.Loggers, owned: false)
        : options.Log is { } log ? new(LoggerFactory.Create(b => b.AddProvider(new ActionLoggerProvider(log))), owned: true)
        : new(services.GetRequiredService<ILoggerFactory>(), owned: false);

    public void Dispose()
    {
        if (owned) Factory.Dispose();
    }
}

using Hyprstream.Flight.Flight;
using Hyprstream.Server.Service;

namespace Hyprstream.Tests.Flight;

/// <summary>A real service on a loopback port over a fresh data directory, plus a client; disposed by the test.</summary>
internal sealed class FlightServer : IAsyncDisposable
{
    public TempDir Dir { get; } = new();
    public FlightServiceHost Host { get; private set; } = null!;
    public FlightClient Client { get; private set; } = null!;

    public static async Task<FlightServer> StartAsync(Action<TempDir>? seed = null, IReadOnlyCollection<string>? tokens = null, int batchRows = 65536, int maxMessage = 64 << 20)
    {
        var s = new FlightServer();
        seed?.Invoke(s.Dir);
        s.Host = await FlightServiceHost.StartAsync(new FlightServiceOptions
        {
            DataDirectory = s.Dir.Path,
            Listen = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0),
            Tokens = tokens ?? [],
            BatchRows = batchRows,
            MaxMessageSize = maxMessage,
        });
        s.Client = new FlightClient(s.Host.Address);
        return s;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Host.DisposeAsync();
        Dir.Dispose();
    }
}

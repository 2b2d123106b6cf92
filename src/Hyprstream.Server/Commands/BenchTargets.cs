using System.Net;
using Hyprstream.Bench;
using Hyprstream.Service;

namespace Hyprstream.Server.Commands;

/// <summary>What the benchmarks measure that lives above them: the Flight service, started in this process on loopback.</summary>
internal static class BenchTargets
{
    public static async Task<FlightTarget> StartFlightService(string dataDirectory, int batchRows, Action<string>? log, bool metrics = false)
    {
        var host = await FlightServiceHost.StartAsync(new FlightServiceOptions
        {
            DataDirectory = dataDirectory,
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            BatchRows = batchRows,
            Log = log,
            Metrics = metrics ? new IPEndPoint(IPAddress.Loopback, 0) : null,
        });
        return new FlightTarget(host.Address, $"fsync {host.Store.Store.Fsync}" + (metrics ? ", metrics on" : ""), host, host.Metrics?.Address);
    }
}

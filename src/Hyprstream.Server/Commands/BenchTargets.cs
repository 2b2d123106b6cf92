using System.Net;
using Hyprstream.Bench;
using Hyprstream.Service;

namespace Hyprstream.Server.Commands;

/// <summary>What the benchmarks measure that lives above them: the Flight service, started in this process on loopback.</summary>
internal static class BenchTargets
{
    public static async Task<FlightTarget> StartFlightService(string dataDirectory, int batchRows, Action<string>? log, bool metrics = false)
    {
        // HYPRSTREAM_BENCH_CHECKPOINT_WAL_MB: the WAL size that starts a background checkpoint (the store's default
        // unless set), so a profile can separate the checkpointer's share of a DoPut from the write path's;
        // HYPRSTREAM_BENCH_CHECKPOINT_WAL_RATIO: StoreOptions.CheckpointWalRatio (0: the WAL size alone decides).
        var store = new Hyprstream.Runtime.Store.StoreOptions();
        if (long.TryParse(Environment.GetEnvironmentVariable("HYPRSTREAM_BENCH_CHECKPOINT_WAL_MB"), out var mb) && mb > 0)
            store = store with { CheckpointWalBytes = mb << 20 };
        if (double.TryParse(Environment.GetEnvironmentVariable("HYPRSTREAM_BENCH_CHECKPOINT_WAL_RATIO"), System.Globalization.CultureInfo.InvariantCulture, out var ratio) && ratio >= 0)
            store = store with { CheckpointWalRatio = ratio };
        var host = await FlightServiceHost.StartAsync(new FlightServiceOptions
        {
            Store = store,
            DataDirectory = dataDirectory,
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            BatchRows = batchRows,
            Log = log,
            Metrics = metrics ? new IPEndPoint(IPAddress.Loopback, 0) : null,
        });
        return new FlightTarget(host.Address, $"fsync {host.Store.Store.Fsync}" + (metrics ? ", metrics on" : ""), host, host.Metrics?.Address);
    }
}

using Grpc.Core;
using Hyprstream.Flight.Protocol;
using Hyprstream.Flight.Rpc;

namespace Hyprstream.Service;

/// <summary>
/// The Arrow IPC bytes of a DoGet's responses and a DoPut's requests, counted where they pass (the handlers stay as
/// they are). Only made when metrics are on.
/// </summary>
internal static class MeteredStreams
{
    public static IServerStreamWriter<FlightData> Sent(IServerStreamWriter<FlightData> inner, FlightMetrics? metrics) =>
        metrics == null ? inner : new Writer(inner, metrics);

    public static IAsyncStreamReader<PooledFlightData> Received(IAsyncStreamReader<PooledFlightData> inner, FlightMetrics? metrics) =>
        metrics == null ? inner : new Reader(inner, metrics);

    private static long Size(FlightData d) => d.DataHeader.Length + d.DataBody.Length;

    private sealed class Writer(IServerStreamWriter<FlightData> inner, FlightMetrics metrics) : IServerStreamWriter<FlightData>
    {
        public WriteOptions? WriteOptions { get => inner.WriteOptions; set => inner.WriteOptions = value; }

        public Task WriteAsync(FlightData message)
        {
            metrics.Sent(Size(message));
            return inner.WriteAsync(message);
        }

        public Task WriteAsync(FlightData message, CancellationToken cancellationToken)
        {
            metrics.Sent(Size(message));
            return inner.WriteAsync(message, cancellationToken);
        }
    }

    private sealed class Reader(IAsyncStreamReader<PooledFlightData> inner, FlightMetrics metrics) : IAsyncStreamReader<PooledFlightData>
    {
        public PooledFlightData Current => inner.Current;

        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            if (!await inner.MoveNext(cancellationToken).ConfigureAwait(false)) return false;
            metrics.Received(Size(inner.Current.Data));
            return true;
        }
    }
}

using System.Diagnostics;
using System.Diagnostics.Metrics;
using Grpc.Core;

namespace Hyprstream.Service;

/// <summary>
/// The Flight service's instruments (meter <see cref="MeterName"/>): every call by method and status with its
/// latency, the bytes and weights DoGet sends and DoPut receives, and the adapter index's size and search latency.
/// Made only when the service publishes metrics (`serve --metrics`); without it every hook is a null check.
/// Labels are bounded: a Flight method (8) and a gRPC status (17); never an adapter's name or a tenant.
/// </summary>
public sealed class FlightMetrics : IDisposable
{
    public const string MeterName = "Hyprstream.Flight";

    /// <summary>Call latencies: 100 µs (GetFlightInfo) to 60 s (a DoPut of a whole model over a slow link).</summary>
    private static readonly double[] CallBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
    private static readonly double[] SearchBuckets = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5];

    private readonly Meter _meter = new(MeterName, "1.0");
    private readonly Counter<long> _calls, _sentBytes, _receivedBytes, _sentWeights, _receivedWeights, _putBatches;
    private readonly Histogram<double> _callSeconds, _searchSeconds;
    private readonly UpDownCounter<long> _active;

    public FlightMetrics(Func<long>? indexSize = null)
    {
        _calls = _meter.CreateCounter<long>("hyprstream.flight.calls", null, "Flight calls that ended, by method and gRPC status");
        _callSeconds = _meter.CreateHistogram("hyprstream.flight.call.duration", "s", "time from a Flight call's start to its status, by method and gRPC status",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = CallBuckets });
        _active = _meter.CreateUpDownCounter<long>("hyprstream.flight.active_calls", null, "Flight calls in progress");
        _sentBytes = _meter.CreateCounter<long>("hyprstream.flight.sent", "By", "Arrow IPC bytes (headers and bodies) sent by DoGet");
        _receivedBytes = _meter.CreateCounter<long>("hyprstream.flight.received", "By", "Arrow IPC bytes (headers and bodies) received by DoPut");
        _sentWeights = _meter.CreateCounter<long>("hyprstream.flight.doget.weights", null, "stored weights streamed by finished DoGet calls");
        _receivedWeights = _meter.CreateCounter<long>("hyprstream.flight.doput.weights", null, "weights written by DoPut (rows, or 512 per tile), each logged in the WAL");
        _putBatches = _meter.CreateCounter<long>("hyprstream.flight.doput.batches", null, "record batches DoPut logged (one WAL record each)");
        _searchSeconds = _meter.CreateHistogram("hyprstream.index.search.duration", "s", "time one routing-index search took (the search action)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SearchBuckets });
        if (indexSize != null)
            _meter.CreateObservableGauge("hyprstream.index.size", indexSize, null, "adapters with an embedding in the routing index");
    }

    /// <summary>A call starts; the returned timestamp goes to <see cref="Ended"/>.</summary>
    public long Started()
    {
        _active.Add(1);
        return Stopwatch.GetTimestamp();
    }

    public void Ended(string method, StatusCode status, long started)
    {
        _active.Add(-1);
        var tags = new TagList { { "method", method }, { "status", status.ToString() } };
        _calls.Add(1, tags);
        _callSeconds.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, tags);
    }

    public void Sent(long bytes) => _sentBytes.Add(bytes);
    public void Received(long bytes) => _receivedBytes.Add(bytes);
    public void SentWeights(long weights) => _sentWeights.Add(weights);

    public void Written(long weights)
    {
        _receivedWeights.Add(weights);
        _putBatches.Add(1);
    }

    public void Searched(long started) => _searchSeconds.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);

    public void Dispose() => _meter.Dispose();
}

namespace Hyprstream.Bench;

/// <summary>
/// Starts a Flight service over <paramref name="dataDirectory"/> for `bench flight`. The command line supplies the real
/// service, so the benchmark measures it as a client would and depends on no service code. With
/// <paramref name="metrics"/> the service publishes its instruments and serves /metrics (<see cref="FlightTarget.Metrics"/>).
/// </summary>
public delegate Task<FlightTarget> FlightTargetFactory(string dataDirectory, int batchRows, Action<string>? log, bool metrics = false);

namespace Hyprstream.Bench;

/// <summary>
/// Starts a Flight service over <paramref name="dataDirectory"/> for `bench flight`. The command line supplies the real
/// service, so the benchmark measures it as a client would and depends on no service code.
/// </summary>
public delegate Task<FlightTarget> FlightTargetFactory(string dataDirectory, int batchRows, Action<string>? log);

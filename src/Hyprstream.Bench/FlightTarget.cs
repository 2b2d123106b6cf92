namespace Hyprstream.Bench;

/// <summary>A Flight service under test: where it listens, a line that describes it (e.g. its fsync policy), and how to stop it.</summary>
public sealed record FlightTarget(Uri Address, string Description, IAsyncDisposable Server);

/// <summary>
/// Starts a Flight service over <paramref name="dataDirectory"/> for `bench flight`. The command line supplies the real
/// service, so the benchmark measures it as a client would and depends on no service code.
/// </summary>
public delegate Task<FlightTarget> FlightTargetFactory(string dataDirectory, int batchRows, Action<string>? log);

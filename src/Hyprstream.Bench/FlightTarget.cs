namespace Hyprstream.Bench;

/// <summary>
/// A Flight service under test: where it listens, a line that describes it (e.g. its fsync policy), how to stop it,
/// and where its metrics are scraped (null: metrics off).
/// </summary>
public sealed record FlightTarget(Uri Address, string Description, IAsyncDisposable Server, Uri? Metrics = null);

namespace Hyprstream.Bench;

/// <summary>A Flight service under test: where it listens, a line that describes it (e.g. its fsync policy), and how to stop it.</summary>
public sealed record FlightTarget(Uri Address, string Description, IAsyncDisposable Server);

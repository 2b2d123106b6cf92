namespace Hyprstream.Runtime.Store;

/// <summary>
/// A file the store wrote itself (an adapter's checkpoint) no longer reads back: damage on disk, not a caller's
/// mistake. The message names the file and what the operator can do.
/// </summary>
public sealed class StoreDamagedException(string message, Exception inner) : IOException(message, inner);

namespace Hyprstream.Runtime.Store;

/// <summary>
/// The store refuses writes for now, and says why (e.g. its checkpoints keep failing on a full disk, so the WAL
/// would only grow). Nothing was logged; reads go on. The service answers UNAVAILABLE: retry later.
/// </summary>
public sealed class StoreUnavailableException(string message) : InvalidOperationException(message);

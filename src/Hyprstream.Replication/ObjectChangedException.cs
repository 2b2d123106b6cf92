namespace Hyprstream.Replication;

/// <summary>
/// A conditional PUT was refused (HTTP 412): the object exists where "create only if absent" was asked, or it changed
/// since the ETag the writer holds. For the store's manifest this means another node wrote it: this one is not the
/// leader (any more).
/// </summary>
public sealed class ObjectChangedException(string key, string message, Exception? inner = null) : IOException(message, inner)
{
    public string Key { get; } = key;
}

namespace Hyprstream.Replication;

/// <summary>
/// An object the store wrote fails its checksum, or an object under the store's prefix was not written by it (no
/// checksum at all). Never served; the message names the object.
/// </summary>
public sealed class DamagedObjectException(string key, string message) : IOException(message)
{
    public string Key { get; } = key;
}

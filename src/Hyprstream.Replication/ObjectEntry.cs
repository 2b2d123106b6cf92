namespace Hyprstream.Replication;

/// <summary>An object as a listing or HEAD shows it; <see cref="Key"/> is relative to the store's prefix.</summary>
public sealed record ObjectEntry(string Key, long Size, string ETag, DateTime LastModified);

/// <summary>An object read whole (its checksum already verified when it carries one); <see cref="Key"/> is relative.</summary>
public sealed record StoredObject(string Key, byte[] Data, string ETag);

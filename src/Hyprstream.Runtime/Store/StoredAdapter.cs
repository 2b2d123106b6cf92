namespace Hyprstream.Runtime.Store;

/// <summary>
/// The store's record of one adapter: its gate (one writer at a time), its checkpoint (guarded by the store's
/// manifest lock), tags, embedding and cached description, and its entry in the cache, which holds where its state
/// lives now (tiers, leases, mapped snapshot) and its last sequence.
/// </summary>
internal sealed class StoredAdapter
{
    public StoredAdapter(string name, TieredCache.Entry cache)
    {
        Name = name;
        Cache = cache;
        cache.Owner = this;
    }

    public readonly string Name;
    public readonly TieredCache.Entry Cache;
    /// <summary>Held while a record of this adapter is logged and applied: one writer at a time.</summary>
    public readonly object Gate = new();
    public bool Deleted;
    public string? BaseModel;
    public string? CheckpointFile;
    public ulong CheckpointSeq;
    public string[] Tags = [];
    public byte[]? Embedding;
    /// <summary>The store's cached description, valid while InfoSeq == LastSeq.</summary>
    public AdapterInfo? Info;
    public ulong InfoSeq;

    /// <summary>The WAL sequence of its last change (kept by the cache entry, which decides write-backs by it).</summary>
    public ulong LastSeq => Volatile.Read(ref Cache.LastSeq);
    /// <summary>Changed since its checkpoint.</summary>
    public bool Dirty => Cache.Dirty;
}

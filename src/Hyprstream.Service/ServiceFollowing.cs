namespace Hyprstream.Service;

/// <summary>What a read replica (`serve --follow`) refuses: DoPut and the actions that change the store.</summary>
internal static class ServiceFollowing
{
    /// <summary>
    /// Actions that change adapters or their embeddings (they go to the leader). Reading (stats, search), writing an
    /// adapter out (save) and the node's own cache and index tuning (unload, pin, unpin, prefetch, index-config) are
    /// served by a replica.
    /// </summary>
    private static readonly HashSet<string> Changing = new(StringComparer.Ordinal)
    {
        "merge", "fuse", "prune", "keep-top", "delete", "load", "checkpoint", "rescan", "index-upsert", "index-remove",
    };

    public static bool Changes(string action) => Changing.Contains(action);
}

using Hyprstream.Runtime.Store;

namespace Hyprstream.Runtime.Index;

/// <summary>
/// The index on a read replica (<see cref="AdapterStore.OpenReplica"/>) follows the leader's descriptions as the
/// replica applies them (<see cref="AdapterStore.DescriptionApplied"/>): an embedding is upserted, an empty one
/// removed, each at most once per store sequence (the same staleness rule as on the leader).
/// </summary>
public sealed partial class AdapterIndex
{
    /// <summary>Starts following <paramref name="store"/>'s applied descriptions (a replica's); a store that is not a replica is refused.</summary>
    public void FollowReplica(AdapterStore store)
    {
        if (!store.IsReplica || !ReferenceEquals(store, _backing))
            throw new InvalidOperationException("an index follows only the replica it was opened on");
        store.DescriptionApplied += OnDescriptionApplied;
    }

    private void OnDescriptionApplied(string name, ulong seq, string[] tags, float[]? embedding)
    {
        try
        {
            using var s = Write();
            if (Stale(name, seq)) return;
            VectorStore.Query q = default;
            double[]? d = embedding is { Length: > 0 } ? Widen(embedding) : null;
            // An embedding of another dimension than this index's (or outside its metric's domain) is not in it.
            try { if (d != null) q = _state.Store.Prepare(d); }
            catch (ArgumentException) { d = null; }
            if (d == null) { if (ApplyRemove(name)) ScheduleCache(force: false); return; }
            ApplyUpsert(name, q, d, tags);
            ScheduleCache(force: false);
        }
        catch (ObjectDisposedException) { }
    }
}

using Hyprstream.Runtime.Index;

namespace Hyprstream.Service;

/// <summary>
/// The index of a read replica follows the leader's descriptions as the replica applies them: an open index takes
/// each one (<see cref="AdapterIndex.FollowReplica"/>); without one yet, the first embedding that arrives opens it
/// from the replica's descriptions (cosine unless the leader's settings file is here: the metric is not shipped).
/// </summary>
public sealed partial class IndexService
{
    private void FollowReplica()
    {
        if (_index is { } open) { open.FollowReplica(_store); return; }
        _store.DescriptionApplied += OpenOnFirstEmbedding;
    }

    private void OpenOnFirstEmbedding(string name, ulong seq, string[] tags, float[]? embedding)
    {
        if (embedding is not { Length: > 0 }) return;
        lock (_gate)
        {
            if (_index != null) return;
            _store.DescriptionApplied -= OpenOnFirstEmbedding;
            _index = AdapterIndex.OpenOnStore(_store, _dir); // holds this embedding already: it was applied before the event
            _index?.FollowReplica(_store);
        }
    }
}

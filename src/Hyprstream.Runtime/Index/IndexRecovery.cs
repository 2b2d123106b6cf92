namespace Hyprstream.Runtime.Index;

/// <summary>
/// What opening an index found. Standalone: which snapshot, how many log records were replayed, how much torn log
/// was cut. On a store: which graph cache was used (null: none, the graph was built from the store), how many
/// embeddings were re-inserted or removed to match the store, and how many of the store's embeddings did not fit
/// the index (wrong dimension, outside the ball) and were left out.
/// </summary>
public sealed record IndexRecovery(string? Snapshot, bool GraphRebuilt, long RecordsReplayed, long DroppedLogBytes)
{
    public long Skipped { get; init; }
}

namespace Hyprstream.Runtime.Store;

/// <summary>What <see cref="AdapterStore.Stage(string, AdapterBatch)"/> logged: its WAL sequence and what applying it did.</summary>
public readonly record struct StagedUpdate(ulong Seq, BatchOutcome Outcome);

namespace Hyprstream.Runtime.Store;

/// <summary>What applying a batch did: weights removed by prune steps, and the retained energy of the last keep-top step.</summary>
public readonly record struct BatchOutcome(long Removed, double? RetainedEnergy);

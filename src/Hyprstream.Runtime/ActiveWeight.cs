namespace Hyprstream.Runtime;

/// <summary>One stored (active) weight of a module.</summary>
public readonly record struct ActiveWeight(string Module, int Row, int Col, float Value);

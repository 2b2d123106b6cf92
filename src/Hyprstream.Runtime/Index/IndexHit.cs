namespace Hyprstream.Runtime.Index;

/// <summary>One search result: an adapter and its distance (squared L2, 1 − cos, or the Poincaré distance).</summary>
public readonly record struct IndexHit(string Adapter, double Distance);

namespace Hyprstream.Runtime.Apply;

/// <summary>
/// The device arguments of a whole-adapter switch: per module its leaf list, tile count, first slot, shape, scale
/// and base-weight buffer. One launch (<see cref="CudaApplier.Switch"/>) applies them all. Holds the snapshot, a lease on its
/// device copy and the weight buffers until disposed.
/// </summary>
public sealed class SwitchPlan : DevicePlan
{
    internal SwitchPlan() { }
    internal string Kernel { get; init; } = "";
    internal uint Modules { get; init; }
    internal int MaxTiles { get; init; }
    internal ulong Grid, Lists, Counts, Bases, Rows, Cols, Scales, Weights;
}

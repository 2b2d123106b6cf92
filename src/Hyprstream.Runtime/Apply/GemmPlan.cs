using Hyprstream.Runtime.Snapshots;
namespace Hyprstream.Runtime.Apply;

/// <summary>
/// The device-side arguments of one sparse GEMM launch (per segment: grid, leaf list, tile count, first slot, scale;
/// and the segment offsets). Made once by <see cref="CudaApplier.PlanGemm(IReadOnlyList{AdapterSnapshot}, ReadOnlySpan{int}, string, float)"/>
/// and launched many times by <see cref="CudaApplier.Gemm(GemmPlan, DeviceBuffer, DeviceBuffer)"/>. Holds the snapshots and a lease
/// on each device copy until disposed.
/// </summary>
public sealed class GemmPlan : DevicePlan
{
    internal GemmPlan() { }
    internal string Kernel { get; init; } = "";
    internal uint Segments { get; init; }
    internal int MaxTiles { get; init; }
    public int Rows { get; internal init; }
    public int Cols { get; internal init; }
    /// <summary>Rows of x (and of y): the last segment offset.</summary>
    public int Batch { get; internal init; }
    internal ulong Grids, Lists, Counts, Bases, Scales, Offsets;
}

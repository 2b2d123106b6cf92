namespace Hyprstream.Runtime.Snapshots;

/// <summary>Value type of a NanoVDB snapshot: float32 (exact), or Fp16 (NanoVDB's 16-bit per-leaf quantization:
/// value = code × (max − min)/65535 + min of the leaf, so the error is at most half of that step).</summary>
public enum SnapshotPrecision
{
    Float32 = 0,
    Fp16 = 1,
}

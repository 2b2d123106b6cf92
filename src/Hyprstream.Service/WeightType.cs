namespace Hyprstream.Service;

/// <summary>The value type of a tile flight: float32, or narrowed to 2 bytes per weight (bfloat16 travels as uint16 bits).</summary>
public enum WeightType { Float32 = 0, Float16 = 1, BFloat16 = 2 }

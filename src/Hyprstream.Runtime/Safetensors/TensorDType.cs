namespace Hyprstream.Runtime.Safetensors;

/// <summary>The safetensors element types we read and write (little-endian, as the format requires).</summary>
public enum TensorDType { F32, F16, BF16, I32, I64 }

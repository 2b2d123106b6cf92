namespace Hyprstream.Runtime.Safetensors;

/// <summary>
/// The safetensors element types (little-endian, as the format requires). Every type has a known size, so a file
/// that holds any of them opens and copies; which of them a reader can decode is its own business
/// (<see cref="TensorDTypes.IsFloat"/> for deltas, <see cref="TensorDTypes.IsReadableReal"/> for values read as numbers).
/// </summary>
public enum TensorDType { F32, F16, BF16, I32, I64, F64, U8, I8, BOOL, I16, U16, U32, U64, F8_E4M3, F8_E5M2, F8_E8M0 }

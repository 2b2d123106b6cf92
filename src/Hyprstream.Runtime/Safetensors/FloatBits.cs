using Hyprstream.Runtime.Apply;
namespace Hyprstream.Runtime.Safetensors;

/// <summary>F16/BF16 ↔ float32 conversions (round to nearest even, as PyTorch does).</summary>
public static class FloatBits
{
    // bfloat16 rounding has one home, Bf16 (the scatter kernels use the same bits).
    public static float FromBf16(ushort bits) => Bf16.ToSingle(bits);

    public static ushort ToBf16(float value) => Bf16.FromSingle(value);

    public static float FromF16(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    public static ushort ToF16(float value) => BitConverter.HalfToUInt16Bits((Half)value);

    public static float ToFloat(ushort bits, TensorDType t) => t == TensorDType.BF16 ? FromBf16(bits) : FromF16(bits);

    public static ushort FromFloat(float v, TensorDType t) => t == TensorDType.BF16 ? ToBf16(v) : ToF16(v);

    /// <summary>Decodes a little-endian float tensor's bytes into float32.</summary>
    public static void Decode(ReadOnlySpan<byte> src, TensorDType t, Span<float> dst)
    {
        switch (t)
        {
            case TensorDType.F32:
                System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(src).CopyTo(dst);
                break;
            case TensorDType.F16:
                System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(src), dst);
                break;
            case TensorDType.BF16:
                var u = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(src);
                for (int i = 0; i < u.Length; i++) dst[i] = FromBf16(u[i]);
                break;
            default:
                throw new InvalidDataException($"{t} is not a float dtype");
        }
    }
}

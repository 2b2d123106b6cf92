using System.Runtime.Intrinsics;

namespace Hyprstream.Runtime.Apply;

/// <summary>bfloat16 as raw bits (the upper half of a float32), rounded to nearest even; NaN stays NaN.</summary>
public static class Bf16
{
    public static float ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    public static ushort FromSingle(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((u >> 16) | 0x40);
        u += 0x7FFFu + ((u >> 16) & 1u);
        return (ushort)(u >> 16);
    }

    /// <summary>dst[i] = bf16(float(dst[i]) + scale · src[i]), eight at a time where the CPU has 256-bit vectors;
    /// bit-for-bit the same as the scalar <see cref="FromSingle"/> path.</summary>
    internal static unsafe void AddScaled(float* src, float scale, ushort* dst, int n)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var s = Vector256.Create(scale);
            var roundBias = Vector256.Create(0x7FFFu);
            var one = Vector256.Create(1u);
            var expMask = Vector256.Create(0x7F800000u);
            var manMask = Vector256.Create(0x007FFFFFu);
            for (; i + 8 <= n; i += 8)
            {
                var w = Vector256.WidenLower(Vector128.Load(dst + i).ToVector256Unsafe()) << 16;
                var f = Vector256.FusedMultiplyAdd(Vector256.Load(src + i), s, w.AsSingle());
                var u = f.AsUInt32();
                var rounded = (u + roundBias + ((u >> 16) & one)) >> 16;
                var isNan = Vector256.Equals(u & expMask, expMask) & ~Vector256.Equals(u & manMask, Vector256<uint>.Zero);
                var bits = Vector256.ConditionalSelect(isNan, (u >> 16) | Vector256.Create(0x40u), rounded);
                Vector128.Store(Vector256.Narrow(bits, bits).GetLower(), dst + i);
            }
        }
        for (; i < n; i++) dst[i] = FromSingle(MathF.FusedMultiplyAdd(src[i], scale, ToSingle(dst[i])));
    }
}

using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Hyprstream.Runtime.Index;

/// <summary>SIMD kernels for the index's distances. Poincaré works in float64 (float32 cannot hold points near the rim).</summary>
internal static class VectorMath
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SquaredL2(ReadOnlySpan<float> a, ReadOnlySpan<float> b) =>
        SquaredL2(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b), a.Length);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b) =>
        Dot(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b), a.Length);

    /// <summary>|a−b|² over n floats: 512-bit lanes where the CPU has them, else 256-bit, two accumulators each.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SquaredL2(ref float pa, ref float pb, int n)
    {
        int i = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated && n >= 32)
        {
            var acc0 = Vector512<float>.Zero;
            var acc1 = Vector512<float>.Zero;
            for (; i + 32 <= n; i += 32)
            {
                var d0 = Vector512.LoadUnsafe(ref pa, (nuint)i) - Vector512.LoadUnsafe(ref pb, (nuint)i);
                var d1 = Vector512.LoadUnsafe(ref pa, (nuint)(i + 16)) - Vector512.LoadUnsafe(ref pb, (nuint)(i + 16));
                acc0 = Vector512.FusedMultiplyAdd(d0, d0, acc0);
                acc1 = Vector512.FusedMultiplyAdd(d1, d1, acc1);
            }
            sum = Vector512.Sum(acc0 + acc1);
        }
        else if (Vector256.IsHardwareAccelerated && n >= 16)
        {
            var acc0 = Vector256<float>.Zero;
            var acc1 = Vector256<float>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                var d0 = Vector256.LoadUnsafe(ref pa, (nuint)i) - Vector256.LoadUnsafe(ref pb, (nuint)i);
                var d1 = Vector256.LoadUnsafe(ref pa, (nuint)(i + 8)) - Vector256.LoadUnsafe(ref pb, (nuint)(i + 8));
                acc0 = Vector256.FusedMultiplyAdd(d0, d0, acc0);
                acc1 = Vector256.FusedMultiplyAdd(d1, d1, acc1);
            }
            sum = Vector256.Sum(acc0 + acc1);
        }
        for (; i < n; i++)
        {
            float d = Unsafe.Add(ref pa, i) - Unsafe.Add(ref pb, i);
            sum += d * d;
        }
        return sum;
    }

    /// <summary>a·b over n floats (same lanes as <see cref="SquaredL2(ref float, ref float, int)"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(ref float pa, ref float pb, int n)
    {
        int i = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated && n >= 32)
        {
            var acc0 = Vector512<float>.Zero;
            var acc1 = Vector512<float>.Zero;
            for (; i + 32 <= n; i += 32)
            {
                acc0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref pa, (nuint)i), Vector512.LoadUnsafe(ref pb, (nuint)i), acc0);
                acc1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref pa, (nuint)(i + 16)), Vector512.LoadUnsafe(ref pb, (nuint)(i + 16)), acc1);
            }
            sum = Vector512.Sum(acc0 + acc1);
        }
        else if (Vector256.IsHardwareAccelerated && n >= 16)
        {
            var acc0 = Vector256<float>.Zero;
            var acc1 = Vector256<float>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                acc0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref pa, (nuint)i), Vector256.LoadUnsafe(ref pb, (nuint)i), acc0);
                acc1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref pa, (nuint)(i + 8)), Vector256.LoadUnsafe(ref pb, (nuint)(i + 8)), acc1);
            }
            sum = Vector256.Sum(acc0 + acc1);
        }
        for (; i < n; i++) sum += Unsafe.Add(ref pa, i) * Unsafe.Add(ref pb, i);
        return sum;
    }

    public static double SquaredL2(ReadOnlySpan<double> a, ReadOnlySpan<double> b) =>
        SquaredL2(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b), a.Length);

    /// <summary>|a−b|² over n doubles (Poincaré coordinates).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double SquaredL2(ref double pa, ref double pb, int n)
    {
        int i = 0;
        double sum = 0;
        if (Vector256.IsHardwareAccelerated && n >= 4)
        {
            var acc = Vector256<double>.Zero;
            for (; i + 4 <= n; i += 4)
            {
                var d = Vector256.LoadUnsafe(ref pa, (nuint)i) - Vector256.LoadUnsafe(ref pb, (nuint)i);
                acc = Vector256.FusedMultiplyAdd(d, d, acc);
            }
            sum = Vector256.Sum(acc);
        }
        for (; i < n; i++)
        {
            double d = Unsafe.Add(ref pa, i) - Unsafe.Add(ref pb, i);
            sum += d * d;
        }
        return sum;
    }

    /// <summary>δ = |u−v|² / ((1−|u|²)(1−|v|²)), monotone in the Poincaré distance; callers pass 1−|x|² precomputed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double PoincareDelta(ReadOnlySpan<double> u, double oneMinusU2, ReadOnlySpan<double> v, double oneMinusV2) =>
        SquaredL2(u, v) / (oneMinusU2 * oneMinusV2);

    /// <summary>d = 2·asinh(√δ): equal to arcosh(1 + 2δ), but accurate where that form rounds to 0.</summary>
    public static double PoincareDistance(double delta) => 2.0 * Math.Asinh(Math.Sqrt(delta));

    /// <summary>Dot product of two int8 code vectors (exact, in int32).</summary>
    public static int DotInt8(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b) =>
        DotInt8(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b), a.Length);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int DotInt8(ref sbyte pa, ref sbyte pb, int n)
    {
        int i = 0, sum = 0;
        if (Vector256.IsHardwareAccelerated && n >= 32)
        {
            var acc = Vector256<int>.Zero;
            for (; i + 32 <= n; i += 32)
            {
                var (al, ah) = Vector256.Widen(Vector256.LoadUnsafe(ref pa, (nuint)i));
                var (bl, bh) = Vector256.Widen(Vector256.LoadUnsafe(ref pb, (nuint)i));
                var (l0, l1) = Vector256.Widen(al * bl);
                var (h0, h1) = Vector256.Widen(ah * bh);
                acc += l0 + l1 + h0 + h1;
            }
            sum = Vector256.Sum(acc);
        }
        for (; i < n; i++) sum += Unsafe.Add(ref pa, i) * Unsafe.Add(ref pb, i);
        return sum;
    }
}

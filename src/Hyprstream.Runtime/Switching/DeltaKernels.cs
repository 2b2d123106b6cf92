using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Runtime.Switching;

/// <summary>The element work of applying a delta: only run positions are read or written; F16/BF16 round to nearest even.</summary>
internal static class DeltaKernels
{
    /// <summary>data ± ΔW at the runs, in place, in the tensor's dtype.</summary>
    public static void Apply(Span<byte> data, TensorDType dtype, DeltaRuns runs, float sign)
    {
        if (dtype == TensorDType.F32)
        {
            var w = MemoryMarshal.Cast<byte, float>(data);
            for (int i = 0; i < runs.Start.Length; i++)
            {
                var dst = w.Slice(runs.Start[i], runs.Length[i]);
                TensorPrimitives.MultiplyAdd(runs.Values.AsSpan(runs.Offset[i], runs.Length[i]), sign, dst, dst);
            }
            return;
        }
        var u = MemoryMarshal.Cast<byte, ushort>(data);
        for (int i = 0; i < runs.Start.Length; i++)
            for (int j = 0; j < runs.Length[i]; j++)
            {
                int at = runs.Start[i] + j;
                u[at] = FloatBits.FromFloat(FloatBits.ToFloat(u[at], dtype) + sign * runs.Values[runs.Offset[i] + j], dtype);
            }
    }

    /// <summary>Copies the run positions of <paramref name="data"/> into a compact buffer (run order).</summary>
    public static void Gather(ReadOnlySpan<byte> data, int size, DeltaRuns runs, Span<byte> compact)
    {
        for (int i = 0; i < runs.Start.Length; i++)
            data.Slice(runs.Start[i] * size, runs.Length[i] * size).CopyTo(compact.Slice(runs.Offset[i] * size));
    }

    /// <summary>Copies a compact buffer (run order) back to the run positions of <paramref name="data"/>.</summary>
    public static void Scatter(Span<byte> data, int size, DeltaRuns runs, ReadOnlySpan<byte> compact)
    {
        for (int i = 0; i < runs.Start.Length; i++)
            compact.Slice(runs.Offset[i] * size, runs.Length[i] * size).CopyTo(data.Slice(runs.Start[i] * size));
    }

    /// <summary>dst = src + ΔW element by element in compact (run) order, in the dtype.</summary>
    public static void AddCompact(ReadOnlySpan<byte> src, TensorDType dtype, ReadOnlySpan<float> delta, Span<byte> dst)
    {
        if (dtype == TensorDType.F32)
        {
            TensorPrimitives.Add(MemoryMarshal.Cast<byte, float>(src), delta, MemoryMarshal.Cast<byte, float>(dst));
            return;
        }
        var s = MemoryMarshal.Cast<byte, ushort>(src);
        var d = MemoryMarshal.Cast<byte, ushort>(dst);
        for (int i = 0; i < s.Length; i++) d[i] = FloatBits.FromFloat(FloatBits.ToFloat(s[i], dtype) + delta[i], dtype);
    }
}

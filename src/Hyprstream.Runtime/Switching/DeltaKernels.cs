using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Runtime.Switching;

/// <summary>W ± ΔW at the run positions only, in the weight's own dtype; optionally saving the overwritten bits first.</summary>
internal static class DeltaKernels
{
    /// <summary>Adds sign·ΔW into <paramref name="data"/>; copies the old element bytes to <paramref name="saved"/> when given.</summary>
    public static void Apply(Span<byte> data, TensorDType dtype, DeltaRuns runs, float sign, Span<byte> saved)
    {
        if (dtype == TensorDType.F32)
        {
            var w = MemoryMarshal.Cast<byte, float>(data);
            var keep = MemoryMarshal.Cast<byte, float>(saved);
            bool save = !saved.IsEmpty;
            for (int i = 0; i < runs.Start.Length; i++)
            {
                var dst = w.Slice(runs.Start[i], runs.Length[i]);
                var d = runs.Values.AsSpan(runs.Offset[i], runs.Length[i]);
                if (save) dst.CopyTo(keep.Slice(runs.Offset[i]));
                if (sign == 1f) TensorPrimitives.Add(dst, d, dst);
                else TensorPrimitives.MultiplyAdd(d, sign, dst, dst);
            }
            return;
        }
        var u = MemoryMarshal.Cast<byte, ushort>(data);
        var ks = MemoryMarshal.Cast<byte, ushort>(saved);
        bool bf = dtype == TensorDType.BF16, keepOld = !saved.IsEmpty;
        for (int i = 0; i < runs.Start.Length; i++)
        {
            int s = runs.Start[i], o = runs.Offset[i];
            for (int j = 0; j < runs.Length[i]; j++)
            {
                ushort old = u[s + j];
                if (keepOld) ks[o + j] = old;
                float v = (bf ? FloatBits.FromBf16(old) : FloatBits.FromF16(old)) + sign * runs.Values[o + j];
                u[s + j] = bf ? FloatBits.ToBf16(v) : FloatBits.ToF16(v);
            }
        }
    }

    /// <summary>Puts saved element bytes back at the run positions.</summary>
    public static void Restore(Span<byte> data, TensorDType dtype, DeltaRuns runs, ReadOnlySpan<byte> saved)
    {
        int size = dtype.Size();
        for (int i = 0; i < runs.Start.Length; i++)
            saved.Slice(runs.Offset[i] * size, runs.Length[i] * size).CopyTo(data.Slice(runs.Start[i] * size));
    }
}

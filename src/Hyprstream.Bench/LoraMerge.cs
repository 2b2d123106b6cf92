using System.Numerics.Tensors;

namespace Hyprstream.Bench;

/// <summary>
/// The baseline for switching an adapter: merging an equivalent dense LoRA, W[rows × cols] += B[rows × r] · A[r × cols]
/// (what PEFT's merge does), with SIMD multiply-adds, threaded over blocks of rows.
/// </summary>
internal static class LoraMerge
{
    public static void Run(float[] w, int rows, int cols, float[] b, float[] a, int rank)
    {
        const int block = 32;
        Parallel.For(0, (rows + block - 1) / block, k =>
        {
            int r1 = Math.Min(rows, (k + 1) * block);
            for (int r = k * block; r < r1; r++)
            {
                var dst = new Span<float>(w, r * cols, cols);
                for (int j = 0; j < rank; j++)
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(a, j * cols, cols), b[r * rank + j], dst, dst);
            }
        });
    }
}

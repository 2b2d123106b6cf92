using System.Numerics.Tensors;

namespace Hyprstream.Bench;

/// <summary>
/// The dense baseline of `bench apply`: y[b × rows] = x[b × cols] · Wᵀ with SIMD dot products (TensorPrimitives),
/// threaded over blocks of output rows; each W row is read once per block and reused for every token of the batch.
/// </summary>
internal static class DenseGemm
{
    public static void Run(float[] w, int rows, int cols, float[] x, int batch, float[] y)
    {
        const int block = 64;
        int blocks = (rows + block - 1) / block;
        Parallel.For(0, blocks, k =>
        {
            int r1 = Math.Min(rows, (k + 1) * block);
            for (int r = k * block; r < r1; r++)
            {
                var wr = new ReadOnlySpan<float>(w, r * cols, cols);
                for (int b = 0; b < batch; b++) y[b * rows + r] = TensorPrimitives.Dot(new ReadOnlySpan<float>(x, b * cols, cols), wr);
            }
        });
    }
}

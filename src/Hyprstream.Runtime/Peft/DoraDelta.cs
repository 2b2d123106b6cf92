using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Runtime.Peft;

/// <summary>
/// DoRA's weight delta. PEFT merges a DoRA module as W' = m ⊙ (W + s·B·A) / ‖W + s·B·A‖, where the norm is taken
/// over dim 1 of the (out, in) weight — one norm per output row — and m is <c>lora_magnitude_vector</c> [out]
/// (peft/tuners/lora/dora.py, get_weight_norm). So ΔW = W' − W depends on the base weight W; it is computed here row by
/// row in float64 and stored as an ordinary delta.
/// </summary>
public static class DoraDelta
{
    /// <summary>ΔW (rows × cols, row-major, float32 rounded once from float64).</summary>
    public static float[] Compute(BaseWeights baseWeights, TensorEntry weight, string module, float[] b, float[] a, int rank, double scale, double[] magnitude)
    {
        var (rows, cols) = weight.Matrix();
        if (magnitude.Length != rows) throw new InvalidDataException($"module '{module}': lora_magnitude_vector has {magnitude.Length} values; the weight has {rows} rows");
        var delta = new float[TileMapping.DenseLength(rows, cols, $"module '{module}' (DoRA)")];
        var v = new double[cols];
        const int Block = 64;
        for (int r0 = 0; r0 < rows; r0 += Block)
        {
            int n = Math.Min(Block, rows - r0);
            var w = baseWeights.ReadRows(weight, r0, n);
            for (int i = 0; i < n; i++)
            {
                int row = r0 + i;
                for (int j = 0; j < cols; j++) v[j] = w[(long)i * cols + j];
                for (int k = 0; k < rank; k++)
                {
                    double bk = scale * b[(long)row * rank + k];
                    if (bk == 0) continue;
                    long ak = (long)k * cols;
                    for (int j = 0; j < cols; j++) v[j] += bk * a[ak + j];
                }
                double sq = 0;
                for (int j = 0; j < cols; j++) sq += v[j] * v[j];
                double norm = Math.Sqrt(sq);
                if (!(norm > 0) || !double.IsFinite(norm))
                    throw new InvalidDataException($"module '{module}': row {row} of W + s·B·A has norm {norm}; DoRA's factor m/‖·‖ is undefined there");
                double f = magnitude[row] / norm;
                for (int j = 0; j < cols; j++) delta[(long)row * cols + j] = (float)(f * v[j] - w[(long)i * cols + j]);
            }
        }
        return delta;
    }
}

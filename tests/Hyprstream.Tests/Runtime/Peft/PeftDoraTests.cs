using Hyprstream.Runtime.Peft;
using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Tests;

/// <summary>
/// DoRA with --base (case 5 of issue 19): ΔW = m ⊙ (W + s·B·A) / ‖W + s·B·A‖ − W, the norm per output row (over the
/// input dimension, PEFT's get_weight_norm: dim=1 of the (out, in) weight), against a float64 reference written here.
/// </summary>
public class PeftDoraTests
{
    private const string Q = "model.layers.0.self_attn.q_proj", V = "model.layers.0.self_attn.v_proj";
    private const int Rank = 4;

    private sealed record Module(string Name, int Rows, int Cols, double[] W, float[] A, float[] B, float[] M);

    /// <summary>Writes a base (in <paramref name="dtype"/>) and a DoRA adapter on q_proj 24x16 and v_proj 8x16.</summary>
    private static (string Adapter, string Base, List<Module> Modules) Write(TempDir dir, TensorDType dtype, double alpha, bool rslora)
    {
        var rng = new Random(31);
        var modules = new List<Module>();
        var baseTensors = new List<PeftFiles.T>();
        var adapter = new List<PeftFiles.T>();
        double s = rslora ? alpha / Math.Sqrt(Rank) : alpha / Rank;
        foreach (var (name, rows, cols) in new[] { (Q, 24, 16), (V, 8, 16) })
        {
            var w = PeftFiles.Random(rng, rows * cols, 1f);
            baseTensors.Add(new PeftFiles.T(name + ".weight", dtype, [rows, cols], w));
            // The base as the file holds it (BF16/F16 round the values once).
            var stored = w.Select(x => (double)(dtype == TensorDType.F32 ? x : FloatBits.ToFloat(FloatBits.FromFloat(x, dtype), dtype))).ToArray();
            var a = PeftFiles.Random(rng, Rank * cols);
            var b = PeftFiles.Random(rng, rows * Rank);
            // Trained magnitudes: the initial row norms, moved by up to ±30%.
            var m = RowNorms(Combined(stored, a, b, rows, cols, s), rows, cols).Select(n => (float)(n * (0.7 + 0.6 * rng.NextDouble()))).ToArray();
            modules.Add(new Module(name, rows, cols, stored, a, b, m));
            adapter.Add(PeftFiles.F32($"base_model.model.{name}.lora_A.weight", [Rank, cols], a));
            adapter.Add(PeftFiles.F32($"base_model.model.{name}.lora_B.weight", [rows, Rank], b));
            adapter.Add(PeftFiles.F32($"base_model.model.{name}.lora_magnitude_vector", [rows], m));
        }
        var basePath = dir.File("base.safetensors");
        PeftFiles.Write(basePath, baseTensors);
        var config = PeftFiles.LoraConfig(Rank, alpha, "q_proj", "v_proj");
        config["use_dora"] = true;
        config["use_rslora"] = rslora;
        return (PeftFiles.Adapter(dir.File("dora"), config, adapter), basePath, modules);
    }

    private static double[] Combined(double[] w, float[] a, float[] b, int rows, int cols, double s)
    {
        var ba = PeftFiles.LoraDelta(b, a, rows, Rank, cols, s);
        return w.Select((x, i) => x + ba[i]).ToArray();
    }

    private static double[] RowNorms(double[] v, int rows, int cols) =>
        Enumerable.Range(0, rows).Select(i => Math.Sqrt(Enumerable.Range(0, cols).Sum(j => v[i * cols + j] * v[i * cols + j]))).ToArray();

    private static double[] ColumnNorms(double[] v, int rows, int cols) =>
        Enumerable.Range(0, cols).Select(j => Math.Sqrt(Enumerable.Range(0, rows).Sum(i => v[i * cols + j] * v[i * cols + j]))).ToArray();

    [TestCase(TensorDType.F32, false)]
    [TestCase(TensorDType.BF16, false)]
    [TestCase(TensorDType.F16, true)]
    public void DoraWithBase_IsMTimesTheRowNormalisedWeight_MinusW(TensorDType dtype, bool rslora)
    {
        using var dir = new TempDir();
        const double alpha = 8;
        var (adapterDir, basePath, modules) = Write(dir, dtype, alpha, rslora);
        double s = rslora ? alpha / Math.Sqrt(Rank) : alpha / Rank;
        var result = PeftImport.Import(adapterDir, new PeftImportOptions { Density = 1, BasePath = basePath });
        using var adapter = result.Adapter;
        Assert.That(adapter.Provenance["variant"], Is.EqualTo("dora"));
        Assert.That(adapter.Provenance["base_weights"], Is.EqualTo("base.safetensors"));
        foreach (var m in modules)
        {
            var v = Combined(m.W, m.A, m.B, m.Rows, m.Cols, s);
            var norms = RowNorms(v, m.Rows, m.Cols);
            var reference = new double[v.Length];
            for (int i = 0; i < m.Rows; i++)
                for (int j = 0; j < m.Cols; j++)
                    reference[i * m.Cols + j] = m.M[i] / norms[i] * v[i * m.Cols + j] - m.W[i * m.Cols + j];
            var module = adapter.Modules[m.Name];
            Assert.That(result.Modules.Single(x => x.Module == m.Name).Kind, Is.EqualTo("dora"));
            Assert.That(module.Scale, Is.EqualTo(1f));
            PeftFiles.AssertExact(module, reference);

            // The norm over the other dimension (one per input column) gives another ΔW: the check above tells them apart.
            var cn = ColumnNorms(v, m.Rows, m.Cols);
            var byColumn = new double[v.Length];
            for (int i = 0; i < m.Rows; i++)
                for (int j = 0; j < m.Cols; j++)
                    byColumn[i * m.Cols + j] = m.M[Math.Min(i, m.M.Length - 1)] / cn[j] * v[i * m.Cols + j] - m.W[i * m.Cols + j];
            Assert.That(PeftFiles.RelativeError(module, byColumn), Is.GreaterThan(0.05));
            // And plain LoRA (ignoring the magnitudes) is far off as well.
            Assert.That(PeftFiles.RelativeError(module, PeftFiles.LoraDelta(m.B, m.A, m.Rows, Rank, m.Cols, s)), Is.GreaterThan(0.05));
        }
    }

    [Test]
    public void Dora_WithoutBase_IsRefusedByName()
    {
        using var dir = new TempDir();
        var (adapterDir, _, _) = Write(dir, TensorDType.F32, 8, false);
        var e = Assert.Throws<NotSupportedException>(() => PeftImport.Import(adapterDir, new PeftImportOptions { Density = 1, DropExtras = true }));
        Assert.That(e!.Message, Does.Contain("DoRA").And.Contain("use_dora").And.Contain("--base"));
    }

    [Test]
    public void Dora_ModuleWithoutItsMagnitude_IsRefused_NamingTheModule()
    {
        using var dir = new TempDir();
        var (adapterDir, basePath, _) = Write(dir, TensorDType.F32, 8, false);
        var weights = Path.Combine(adapterDir, "adapter_model.safetensors");
        using (var f = SafetensorsFile.Open(weights))
        {
            var kept = f.Tensors.Where(t => !t.Name.EndsWith("v_proj.lora_magnitude_vector")).Select(t => PeftFiles.F32(t.Name, t.Shape, f.ReadFloats(t))).ToList();
            f.Dispose();
            PeftFiles.Write(weights, kept);
        }
        var e = Assert.Throws<InvalidDataException>(() => PeftImport.Import(adapterDir, new PeftImportOptions { Density = 1, BasePath = basePath }));
        Assert.That(e!.Message, Does.Contain(V).And.Contain("lora_magnitude_vector"));
    }
}

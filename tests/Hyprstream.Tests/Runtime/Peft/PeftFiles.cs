using System.Runtime.InteropServices;
using System.Text.Json;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Tests;

/// <summary>
/// Builds PEFT adapter directories and base weight files tensor by tensor, in any dtype, with our safetensors writer
/// (no numpy), and checks an imported module against a float64 reference computed by the test.
/// </summary>
internal static class PeftFiles
{
    /// <summary>A tensor to write: Values is float[] (F32/F16/BF16), double[] (F64), int[] (I32), long[] (I64) or byte[] (raw, e.g. U8).</summary>
    public sealed record T(string Name, TensorDType DType, long[] Shape, Array Values);

    public static T F32(string name, long[] shape, float[] values) => new(name, TensorDType.F32, shape, values);

    public static void Write(string path, IEnumerable<T> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        using var w = new SafetensorsWriter(path);
        if (metadata != null) foreach (var (k, v) in metadata) w.Metadata[k] = v;
        foreach (var t in list) w.Declare(t.Name, t.DType, t.Shape);
        foreach (var t in list)
            switch (t.Values)
            {
                case float[] f: w.WriteAs(f, t.DType); break;
                case double[] d: w.Write(MemoryMarshal.AsBytes(d.AsSpan())); break;
                case int[] i: w.WriteInts(i); break;
                case long[] l: w.WriteLongs(l); break;
                case byte[] b: w.Write(b); break;
                default: throw new ArgumentException($"no writer for {t.Values.GetType()}");
            }
        w.Commit();
    }

    /// <summary>An adapter directory: adapter_config.json from <paramref name="config"/>, adapter_model.safetensors from the tensors.</summary>
    public static string Adapter(string dir, Dictionary<string, object?> config, IEnumerable<T> tensors)
    {
        Directory.CreateDirectory(dir);
        Write(Path.Combine(dir, "adapter_model.safetensors"), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        File.WriteAllText(Path.Combine(dir, "adapter_config.json"), JsonSerializer.Serialize(config));
        return dir;
    }

    public static Dictionary<string, object?> LoraConfig(int r, double alpha, params string[] targets) => new()
    {
        ["peft_type"] = "LORA", ["task_type"] = "CAUSAL_LM", ["base_model_name_or_path"] = "test/base", ["r"] = r, ["lora_alpha"] = alpha,
        ["use_rslora"] = false, ["bias"] = "none", ["fan_in_fan_out"] = false, ["target_modules"] = targets, ["init_lora_weights"] = true,
    };

    public static float[] Random(Random rng, long n, float amp = 0.5f) => PeftFixtures.Random(rng, checked((int)n), amp);

    /// <summary>s·B·A in float64 (B rows × r, A r × cols), row-major.</summary>
    public static double[] LoraDelta(float[] b, float[] a, int rows, int r, int cols, double s)
    {
        var d = new double[(long)rows * cols];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
            {
                double acc = 0;
                for (int k = 0; k < r; k++) acc += (double)b[i * r + k] * a[k * cols + j];
                d[(long)i * cols + j] = s * acc;
            }
        return d;
    }

    /// <summary>max |ΔW − reference| / max |reference| over the module's effective ΔW (scale applied).</summary>
    public static double RelativeError(AdapterModule m, double[] reference)
    {
        var actual = m.ToDense(applyScale: true);
        Assert.That(actual, Has.Length.EqualTo(reference.Length), $"{m.Name}: shape");
        double err = 0, max = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            err = Math.Max(err, Math.Abs(actual[i] - reference[i]));
            max = Math.Max(max, Math.Abs(reference[i]));
        }
        return max == 0 ? err : err / max;
    }

    /// <summary>Asserts the module's effective ΔW is within 1e-6 relative of the float64 reference.</summary>
    public static void AssertExact(AdapterModule m, double[] reference)
    {
        Assert.That(RelativeError(m, reference), Is.LessThanOrEqualTo(1e-6), $"{m.Name}: ΔW against the float64 reference");
    }
}

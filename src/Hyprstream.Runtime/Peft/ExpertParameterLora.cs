using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Runtime.Peft;

/// <summary>
/// LoRA on parameters (PEFT's <c>target_parameters</c>, used for MoE experts stored as one [experts, d1, d2] tensor).
/// PEFT's ParamWrapper keeps lora_A [r·E, in] and lora_B [out, r·E]; expert e uses rows e·r … e·r + r − 1 of A and
/// columns r' · E + e of B, and ΔW[e] = scale · Σ_r' B[:, r'·E + e] ⊗ A[e·r + r', :], laid out as the parameter
/// (d1 × d2 per expert). Which of d1 and d2 is "in" depends on the model's code (is_transposed), and when several
/// parameters of one module are targeted PEFT nests the wrappers (…experts.lora_A, …experts.base_layer.lora_A) in the
/// order the module registers its parameters — neither is in the adapter file. So the base weights (--base) decide:
/// each wrapper must fit exactly one parameter in exactly one orientation, or the import is refused saying why.
/// The result is one module per parameter, named as the base tensor, (E·d1) × d2: every expert, exactly.
/// </summary>
public static class ExpertParameterLora
{
    public sealed record Wrapper(string SavedModule, TensorEntry A, TensorEntry B);

    public sealed record Result(string Tensor, int Rows, int Cols, int Rank, int Experts, double Scale, float[] Product, string Layout);

    private enum Layout { Plain, Swapped, Transposed }

    /// <summary>The parameter names of <paramref name="module"/> that target_parameters names (PEFT's rule: the key
    /// "module.param" equals an entry or ends with "." + entry).</summary>
    public static List<string> ParametersOf(string module, IReadOnlyList<string> targetParameters)
    {
        var found = new List<string>();
        foreach (var t in targetParameters)
        {
            var param = t[(t.LastIndexOf('.') + 1)..];
            var key = module + "." + param;
            if ((key == t || key.EndsWith("." + t, StringComparison.Ordinal)) && !found.Contains(param)) found.Add(param);
        }
        return found;
    }

    /// <summary>The refusal for target_parameters without the base weights, naming the real reason.</summary>
    public static NotSupportedException NeedsBase(string module, IReadOnlyList<string> parameters) => new(
        $"module '{module}' is LoRA on parameters ({string.Join(", ", parameters.Select(p => $"'{module}.{p}'"))}, target_parameters): " +
        "the parameter's [experts, d1, d2] layout, whether the model stores it transposed, and which nested wrapper holds which parameter are not in the adapter file; pass --base");

    /// <summary>Resolves the wrappers of one module against the base parameters and computes each ΔW (unscaled; Scale separate).</summary>
    public static List<Result> Import(string module, IReadOnlyList<Wrapper> wrappers, IReadOnlyList<string> parameters, PeftAdapterConfig config,
        BaseWeights? baseWeights, SafetensorsFile file)
    {
        if (baseWeights == null) throw NeedsBase(module, parameters);
        if (wrappers.Count != parameters.Count)
            throw new InvalidDataException($"module '{module}' has {wrappers.Count} LoRA wrapper(s) in the file but target_parameters names {parameters.Count} parameter(s) on it ({string.Join(", ", parameters)})");
        var shapes = parameters.Select(p =>
        {
            var name = module + "." + p;
            var t = baseWeights.Find(name);
            if (t == null || t.Name != name) throw new InvalidDataException($"target parameter '{name}': --base has no tensor of that name");
            if (t.Shape.Length is not (2 or 3)) throw new InvalidDataException($"target parameter '{name}' has shape {t.ShapeText}; PEFT targets 2-D and 3-D parameters only");
            return t;
        }).ToList();
        // Every assignment of wrappers to parameters in which each wrapper fits its parameter in some layout; usable only
        // if exactly one assignment fits, and in it each wrapper fits in exactly one layout.
        var solutions = new List<(int[] Assign, Layout[] Layouts)>();
        bool ambiguous = false;
        foreach (var perm in Permutations(parameters.Count))
        {
            var layouts = new Layout[perm.Length];
            bool fits = true, unique = true;
            for (int i = 0; i < perm.Length && fits; i++)
            {
                var f = Fits(wrappers[i], shapes[perm[i]], config.RankOf(module + "." + parameters[perm[i]]));
                fits = f.Count > 0;
                unique &= f.Count == 1;
                if (fits) layouts[i] = f[0];
            }
            if (!fits) continue;
            solutions.Add((perm, layouts));
            ambiguous |= !unique;
        }
        if (solutions.Count != 1 || ambiguous)
        {
            var detail = string.Join("; ", wrappers.Select(w => $"'{w.SavedModule}': lora_A {w.A.ShapeText}, lora_B {w.B.ShapeText}")) + "; parameters: " +
                         string.Join(", ", shapes.Select(s => $"'{s.Name}' {s.ShapeText}"));
            throw new InvalidDataException(solutions.Count == 0
                ? $"module '{module}' (target_parameters): no wrapper-to-parameter assignment fits the base shapes and ranks ({detail})"
                : $"module '{module}' (target_parameters): the base shapes fit more than one assignment or orientation, so which wrapper holds which parameter (or whether the model stores it transposed) cannot be decided ({detail})");
        }
        var (assign, lay) = solutions[0];
        var results = new List<Result>();
        for (int i = 0; i < wrappers.Count; i++)
        {
            var param = shapes[assign[i]];
            string key = module + "." + parameters[assign[i]];
            int r = config.RankOf(key);
            int experts = param.Shape.Length == 3 ? checked((int)param.Shape[0]) : 1;
            var (rows, cols) = param.FlatMatrix();
            var product = Product(file.ReadFloats(wrappers[i].A), file.ReadFloats(wrappers[i].B), wrappers[i].A.Matrix(), wrappers[i].B.Matrix(),
                r, experts, rows / experts, cols, lay[i], key);
            results.Add(new Result(param.Name, rows, cols, r, experts, config.LoraScale(key), product, lay[i].ToString().ToLowerInvariant()));
        }
        return results;
    }

    private static List<Layout> Fits(Wrapper w, TensorEntry param, int r)
    {
        var (aRows, aCols) = w.A.Matrix();
        var (bRows, bCols) = w.B.Matrix();
        var fits = new List<Layout>();
        if (param.Shape.Length == 2)
        {
            if (aRows == r && bCols == r && aCols == param.Shape[1] && bRows == param.Shape[0]) fits.Add(Layout.Plain);
            return fits;
        }
        long e = param.Shape[0], d1 = param.Shape[1], d2 = param.Shape[2];
        if (aRows != r * e || bCols != r * e) return fits;
        if (aCols == d2 && bRows == d1) fits.Add(Layout.Swapped);        // the model does not set is_transposed: A reads d2
        if (aCols == d1 && bRows == d2) fits.Add(Layout.Transposed);     // is_transposed: A reads d1
        return fits;
    }

    /// <summary>B·A arranged as the parameter, (E·d1) × d2, in float64 per element then rounded once.</summary>
    private static float[] Product(float[] a, float[] b, (int Rows, int Cols) aShape, (int Rows, int Cols) bShape, int r, int experts, int d1, int d2,
        Layout layout, string key)
    {
        var dst = new float[TileMapping.DenseLength(experts * d1, d2, $"target parameter '{key}'")];
        int bCols = bShape.Cols, aCols = aShape.Cols;
        for (int e = 0; e < experts; e++)
            for (int i = 0; i < d1; i++)
                for (int j = 0; j < d2; j++)
                {
                    double s = 0;
                    for (int k = 0; k < r; k++)
                        s += layout switch
                        {
                            // Plain: ΔW = B·A. Swapped: B row i, A column j. Transposed: B row j, A column i.
                            Layout.Plain => (double)b[(long)i * bCols + k] * a[(long)k * aCols + j],
                            Layout.Swapped => (double)b[(long)i * bCols + k * experts + e] * a[(long)(e * r + k) * aCols + j],
                            _ => (double)b[(long)j * bCols + k * experts + e] * a[(long)(e * r + k) * aCols + i],
                        };
                    dst[((long)e * d1 + i) * d2 + j] = (float)s;
                }
        return dst;
    }

    private static IEnumerable<int[]> Permutations(int n)
    {
        if (n > 6) throw new InvalidDataException($"{n} nested target_parameters wrappers on one module; at most 6 are resolved");
        var p = Enumerable.Range(0, n).ToArray();
        return Permute(p, 0);

        static IEnumerable<int[]> Permute(int[] p, int k)
        {
            if (k == p.Length) { yield return (int[])p.Clone(); yield break; }
            for (int i = k; i < p.Length; i++)
            {
                (p[k], p[i]) = (p[i], p[k]);
                foreach (var q in Permute(p, k + 1)) yield return q;
                (p[k], p[i]) = (p[i], p[k]);
            }
        }
    }
}

using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Runtime.Peft;

/// <summary>
/// The tensors of an adapter file that are not the PEFT method's own deltas: parameters saved whole
/// (modules_to_save heads, resized embeddings, biases trained with bias = all / lora_only), trainable-token rows, and
/// names this reader does not know. PEFT loads each of them over the base model's tensor of the same name, so their
/// stored values replace the base's. With the base weights (--base) such a replacement is exactly the delta
/// (saved − base), which is what is stored: an ordinary delta module, listed under provenance "replaced_tensors".
/// Without the base, or when the base has no tensor of that name and shape (a new classification head, a resized
/// vocabulary), it cannot be kept, and the import is refused naming it unless --drop-extras says to go on without it.
/// A tensor of no known role that the base does not have either is one PEFT's loader ignores as an unexpected key;
/// with --base it is skipped with a note.
/// </summary>
public static class PeftExtras
{
    public enum Outcome { Replace, TrainableTokens, Skip, Problem }

    /// <param name="Target">The base tensor whose values the tensor replaces (for Replace and TrainableTokens).</param>
    /// <param name="Indices">The embedding rows trainable tokens replace.</param>
    public sealed record Decision(PeftTensor Tensor, Outcome Outcome, string Reason, TensorEntry? Target = null, long[]? Indices = null)
    {
        public string Describe() => $"'{Tensor.Name}' ({Tensor.Entry.DType} {Tensor.Entry.ShapeText}): {Reason}";
    }

    /// <summary>Decides, for each tensor the method's importer does not use, what becomes of it. Reads nothing.</summary>
    public static List<Decision> Decide(IEnumerable<PeftTensor> unused, PeftAdapterConfig config, BaseWeights? baseWeights)
    {
        var decisions = new List<Decision>();
        foreach (var t in unused)
            decisions.Add(t.Role switch
            {
                PeftTensorRole.TrainableTokens => DecideTokens(t, config, baseWeights),
                PeftTensorRole.SavedParameter or PeftTensorRole.Unknown => DecideSaved(t, config, baseWeights),
                _ => new Decision(t, Outcome.Problem, $"a {t.Role} tensor that no {config.PeftType} module of this file uses"),
            });
        return decisions;
    }

    private static Decision DecideSaved(PeftTensor t, PeftAdapterConfig config, BaseWeights? baseWeights)
    {
        bool known = t.Role == PeftTensorRole.SavedParameter;
        string what = known ? PeftTensors.DescribeSaved(t, config) : "not a tensor of a known PEFT role";
        if (baseWeights == null)
            return new Decision(t, Outcome.Problem, $"{what}; pass --base to {(known ? "keep it as (saved − base)" : "check whether the base has it")}");
        var target = baseWeights.Find(t.Module);
        if (target == null || target.Name != t.Module)
            return known
                ? new Decision(t, Outcome.Problem, $"{what}, but the base has no tensor '{t.Module}' (a head PEFT adds, e.g. for sequence classification?); a delta cannot add a tensor")
                : new Decision(t, Outcome.Skip, $"{what}, and the base has no tensor '{t.Module}': PEFT's loader ignores it as an unexpected key");
        if (!t.Entry.Shape.SequenceEqual(target.Shape))
            return new Decision(t, Outcome.Problem, $"{what}, but the base's '{target.Name}' is {target.ShapeText} (vocabulary resized?); a delta cannot change a tensor's shape");
        if (!t.Entry.DType.IsReadableReal())
            return new Decision(t, Outcome.Problem, $"{what}, stored as {t.Entry.DType}, which this import does not read as values");
        if (!target.DType.IsFloat())
            return new Decision(t, Outcome.Problem, $"{what}, but the base's '{target.Name}' is {target.DType}; deltas apply to F32, F16 and BF16 tensors only");
        return new Decision(t, Outcome.Replace, $"{what}: kept as (saved − base)", target);
    }

    private static Decision DecideTokens(PeftTensor t, PeftAdapterConfig config, BaseWeights? baseWeights)
    {
        const string what = "trainable-token rows that replace rows of an embedding";
        var matches = config.TrainableTokenIndices.Where(p => p.Key == "" || t.Module == p.Key || t.Module.EndsWith("." + p.Key, StringComparison.Ordinal)).ToList();
        if (matches.Count != 1)
            return new Decision(t, Outcome.Problem, $"{what}, but trainable_token_indices gives {(matches.Count == 0 ? "no" : "more than one")} index list for '{t.Module}'");
        var indices = matches[0].Value;
        if (t.Entry.Shape.Length != 2 || t.Entry.Shape[0] != indices.Length)
            return new Decision(t, Outcome.Problem, $"{what}, but it holds {t.Entry.ShapeText} for {indices.Length} token indices");
        if (indices.Distinct().Count() != indices.Length)
            return new Decision(t, Outcome.Problem, $"{what}, but trainable_token_indices repeats a token");
        if (baseWeights == null) return new Decision(t, Outcome.Problem, $"{what}; pass --base to keep them as (saved − base)");
        var target = baseWeights.Find(t.Module);
        if (target == null || target.Shape.Length != 2)
            return new Decision(t, Outcome.Problem, $"{what}, but the base has no 2-D embedding '{PeftKeys.BaseWeight(t.Module)}'");
        if (target.Shape[1] != t.Entry.Shape[1] || indices.Any(i => i >= target.Shape[0]))
            return new Decision(t, Outcome.Problem, $"{what}, but they do not fit the base's '{target.Name}' {target.ShapeText} (width, or a token index past the vocabulary)");
        if (!t.Entry.DType.IsReadableReal() || !target.DType.IsFloat())
            return new Decision(t, Outcome.Problem, $"{what}, stored as {t.Entry.DType} for a {target.DType} base; not readable here");
        return new Decision(t, Outcome.TrainableTokens, $"{what}: kept as (saved − base) on {indices.Length} rows", target, indices);
    }

    /// <summary>Writes the Replace and TrainableTokens decisions as delta modules (scale 1), streaming rows in blocks.</summary>
    public static void Apply(IEnumerable<Decision> decisions, SafetensorsFile file, BaseWeights baseWeights, ExtraModules sink, List<ModuleImport> results)
    {
        foreach (var d in decisions)
        {
            var target = d.Target!;
            var (rows, cols) = target.FlatMatrix();
            string module = target.Name.EndsWith(".weight", StringComparison.Ordinal) ? target.Name[..^".weight".Length] : target.Name;
            var m = sink.Get(module, rows, cols, d.Tensor.Name);
            long before = m.ActiveCount;
            if (d.Outcome == Outcome.Replace)
            {
                const int Block = 256;
                for (int r0 = 0; r0 < rows; r0 += Block)
                {
                    int n = Math.Min(Block, rows - r0);
                    AddDifferences(m, r0, n, cols, BaseWeights.ReadRows(file, d.Tensor.Entry, r0, n), baseWeights.ReadRows(target, r0, n), i => r0 + i);
                }
            }
            else
            {
                var saved = BaseWeights.ReadRows(file, d.Tensor.Entry, 0, d.Indices!.Length);
                var old = new double[saved.Length];
                for (int k = 0; k < d.Indices.Length; k++)
                    baseWeights.ReadRows(target, (int)d.Indices[k], 1).CopyTo(old, (long)k * cols);
                AddDifferences(m, 0, d.Indices.Length, cols, saved, old, k => (int)d.Indices[k]);
            }
            results.Add(new ModuleImport(module, rows, cols, 0, 1, m.ActiveCount - before, 1.0, true,
                d.Outcome == Outcome.Replace ? "replaced" : "trainable_tokens"));
        }
    }

    /// <summary>Adds saved − base (rounded once to float32) wherever they differ; equal values change nothing and store nothing.</summary>
    private static void AddDifferences(AdapterModule m, int first, int count, int cols, double[] saved, double[] old, Func<int, int> rowOf)
    {
        var r = new List<int>();
        var c = new List<int>();
        var v = new List<float>();
        for (int i = 0; i < count; i++)
            for (int j = 0; j < cols; j++)
            {
                double diff = saved[(long)i * cols + j] - old[(long)i * cols + j];
                if (diff == 0) continue;
                r.Add(rowOf(i));
                c.Add(j);
                v.Add((float)diff);
            }
        if (v.Count > 0) m.AddMany(r.ToArray(), c.ToArray(), v.ToArray());
    }
}

/// <summary>
/// The scale-1 delta modules an import adds beside the method's own (replaced tensors, trainable tokens, lora_B
/// biases). Two sources may add into one (a bias trained with bias = all plus lora_B's bias on the same layer), but a
/// name the method's importer already used is refused: one module cannot be both.
/// </summary>
public sealed class ExtraModules(SparseAdapter adapter)
{
    private readonly Dictionary<string, List<string>> _sources = new(StringComparer.Ordinal);

    public AdapterModule Get(string module, int rows, int cols, string source)
    {
        if (_sources.TryGetValue(module, out var list))
        {
            var m = adapter.Modules[module];
            if (m.Rows != rows || m.Cols != cols)
                throw new InvalidDataException($"'{source}' adds a {rows}x{cols} delta to module '{module}', which '{list[0]}' made {m.Rows}x{m.Cols}");
            list.Add(source);
            return m;
        }
        if (adapter.Modules.Contains(module))
            throw new InvalidDataException($"'{source}' would add to module '{module}', which the adapter's own deltas already define");
        _sources[module] = [source];
        return adapter.AddModule(module, rows, cols, 1f);
    }

    /// <summary>Every source tensor that went into an extra module.</summary>
    public IEnumerable<string> Sources => _sources.Values.SelectMany(s => s);
}

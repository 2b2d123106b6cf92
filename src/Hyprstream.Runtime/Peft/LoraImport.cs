using Hyprstream.Runtime.Linalg;
using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Runtime.Peft;

/// <summary>
/// PEFT LoRA: ΔW = scale · B·A per module (scale = alpha/r, or alpha/√r with rsLoRA; rank_pattern / alpha_pattern
/// matched as PEFT does, <see cref="PeftPattern"/>), kept at the requested density; the module stores B·A and carries
/// the scale. DoRA modules (use_dora) get the ΔW of <see cref="DoraDelta"/>, which needs the base weights; LoRA on
/// parameters (target_parameters) goes through <see cref="ExpertParameterLora"/>; lora_B's bias (lora_bias) becomes a
/// 1 × out delta on the layer's bias. Everything is checked in <see cref="Plan"/>, before a weight is computed.
/// </summary>
internal sealed class LoraImport : IPeftMethod
{
    private sealed record Module(string Name, PeftTensor A, PeftTensor B, PeftTensor? Bias, PeftTensor? Magnitude, int Rows, int Cols, int Rank, bool ShapeChecked);

    private readonly List<Module> _modules = new();
    private readonly Dictionary<string, (List<ExpertParameterLora.Wrapper> Wrappers, List<string> Parameters)> _experts = new(StringComparer.Ordinal);
    private readonly List<PeftTensor> _used = new();
    private readonly PeftAdapterConfig _config;
    private readonly BaseWeights? _base;
    private readonly PeftImportOptions _options;
    private double _kept, _total;

    private LoraImport(PeftAdapterConfig config, BaseWeights? baseWeights, PeftImportOptions options)
    {
        _config = config;
        _base = baseWeights;
        _options = options;
    }

    public IReadOnlyCollection<PeftTensor> Used => _used;
    public bool ReadsBase => _config.UseDora || _experts.Count > 0;
    public double RetainedEnergy => _total == 0 ? 1 : Math.Sqrt(_kept / _total);

    public static LoraImport Plan(IReadOnlyList<PeftTensor> tensors, PeftAdapterConfig config, ModuleShapes shapes, BaseWeights? baseWeights, PeftImportOptions options)
    {
        var plan = new LoraImport(config, baseWeights, options);
        foreach (var t in tensors)
            if (t.Role == PeftTensorRole.EmbeddingLora) throw new NotSupportedException($"'{t.Name}': LoRA on embeddings is not supported");
        if (!config.UseDora && tensors.FirstOrDefault(t => t.Role == PeftTensorRole.DoraMagnitude) is { } stray)
            throw new InvalidDataException($"'{stray.Name}' is a DoRA magnitude vector, but adapter_config.json does not set use_dora: the file and its config disagree");
        if (config.UseDora && baseWeights == null)
            throw new NotSupportedException("DoRA adapters (use_dora) need --base: DoRA's ΔW = m·(W + s·B·A)/‖W + s·B·A‖ − W depends on the base weight W");
        var a = tensors.Where(t => t.Role == PeftTensorRole.LoraA).ToDictionary(t => t.Module, StringComparer.Ordinal);
        var b = tensors.Where(t => t.Role == PeftTensorRole.LoraB).ToDictionary(t => t.Module, StringComparer.Ordinal);
        if (a.Count == 0) throw new InvalidDataException("the adapter has no '*.lora_A.weight' tensors (not a LoRA adapter?)");
        foreach (var (m, t) in b)
            if (!a.ContainsKey(m)) throw new InvalidDataException($"'{t.Name}' has no matching lora_A");
        var bias = tensors.Where(t => t.Role == PeftTensorRole.LoraBBias).ToDictionary(t => t.Module, StringComparer.Ordinal);
        var magnitude = tensors.Where(t => t.Role == PeftTensorRole.DoraMagnitude).ToDictionary(t => t.Module, StringComparer.Ordinal);
        foreach (var saved in a.Keys.OrderBy(AdapterNames.LayerOf).ThenBy(m => m, StringComparer.Ordinal))
        {
            var ta = a[saved];
            var tb = b.TryGetValue(saved, out var x) ? x : throw new InvalidDataException($"'{ta.Name}' has no matching lora_B");
            CheckReal(ta);
            CheckReal(tb);
            plan._used.Add(ta);
            plan._used.Add(tb);
            var module = StripWrappers(saved);
            var parameters = ExpertParameterLora.ParametersOf(module, config.TargetParameters);
            if (parameters.Count > 0)
            {
                if (bias.ContainsKey(saved)) throw new NotSupportedException($"'{bias[saved].Name}': PEFT does not allow lora_bias on target_parameters");
                if (!plan._experts.TryGetValue(module, out var group)) plan._experts[module] = group = (new(), parameters);
                group.Wrappers.Add(new ExpertParameterLora.Wrapper(saved, ta.Entry, tb.Entry));
                continue;
            }
            if (saved != module) throw new NotSupportedException($"'{ta.Name}': nested LoRA wrappers (base_layer) outside target_parameters are not supported");
            var (r, cols) = ta.Entry.Matrix();
            var (rows, rb) = tb.Entry.Matrix();
            if (rb != r) throw new InvalidDataException($"module '{module}': lora_A is {ta.Entry.ShapeText} and lora_B is {tb.Entry.ShapeText}; their ranks differ");
            if (r != config.RankOf(module))
                throw new InvalidDataException($"module '{module}': tensors have rank {r} but adapter_config.json says r = {config.RankOf(module)}" +
                                               (config.RankPattern.Count > 0 ? " (after rank_pattern)" : ""));
            bool isChecked = shapes.Check(module, rows, cols);
            PeftTensor? mag = null, bb = null;
            if (config.UseDora)
            {
                mag = magnitude.TryGetValue(module, out var mt) ? mt : throw new InvalidDataException($"module '{module}' is DoRA (use_dora) but has no lora_magnitude_vector");
                CheckReal(mt);
                if (mt.Entry.ElementCount != rows) throw new InvalidDataException($"'{mt.Name}' has shape {mt.Entry.ShapeText}; DoRA keeps one magnitude per output row ({rows})");
                plan._used.Add(mt);
            }
            if (bias.TryGetValue(module, out var bt))
            {
                if (config.UseDora) throw new NotSupportedException($"'{bt.Name}': lora_bias together with DoRA is not supported");
                CheckReal(bt);
                if (bt.Entry.ElementCount != rows) throw new InvalidDataException($"'{bt.Name}' has shape {bt.Entry.ShapeText}; lora_B's bias has one value per output row ({rows})");
                if (baseWeights != null && baseWeights.Find(module + ".bias") == null)
                    throw new InvalidDataException($"'{bt.Name}' adds to the bias of '{module}', but the base weights have no '{module}.bias'");
                bb = bt;
                plan._used.Add(bt);
            }
            plan._modules.Add(new Module(module, ta, tb, bb, mag, rows, cols, r, isChecked));
        }
        if (plan._experts.Count > 0 && baseWeights == null)
        {
            var (module, group) = plan._experts.First();
            throw ExpertParameterLora.NeedsBase(module, group.Parameters);
        }
        return plan;
    }

    public List<ModuleImport> Run(SafetensorsFile file, SparseAdapter adapter, ExtraModules extras, Action<int, int, string>? progress)
    {
        adapter.Provenance["lora_alpha"] = _config.LoraAlpha.ToString("R");
        adapter.Provenance["use_rslora"] = _config.UseRsLora ? "true" : "false";
        adapter.Provenance["density"] = _options.Density.ToString("R");
        adapter.Provenance["structure"] = _options.Structure == SparsityStructure.Tile ? "tile" : "unstructured";
        if (_config.UseDora) adapter.Provenance["variant"] = "dora";
        var results = new List<ModuleImport>();
        int total = _modules.Count + _experts.Count, done = 0;
        foreach (var m in _modules)
        {
            progress?.Invoke(done++, total, m.Name);
            double scale = _config.LoraScale(m.Name);
            var bValues = file.ReadFloats(m.B.Entry);
            var aValues = file.ReadFloats(m.A.Entry);
            AdapterModule module;
            if (m.Magnitude is { } mag)
            {
                var weight = _base!.Find(m.Name)!;
                var delta = DoraDelta.Compute(_base, weight, m.Name, bValues, aValues, m.Rank, scale, file.ReadDoubles(mag.Entry));
                module = adapter.AddModuleFromDense(m.Name, m.Rows, m.Cols, delta, 0f, 1f);
                results.Add(Keep(module, m.Rank, 1.0, m.ShapeChecked, "dora"));
            }
            else
            {
                var delta = new float[TileMapping.DenseLength(m.Rows, m.Cols, $"module '{m.Name}' (lora_B·lora_A)")];
                LowRankGemm.AddProduct(delta, m.Rows, m.Cols, bValues, aValues, m.Rank);
                module = adapter.AddModuleFromDense(m.Name, m.Rows, m.Cols, delta, 0f, (float)scale);
                results.Add(Keep(module, m.Rank, scale, m.ShapeChecked, "lora"));
            }
            if (m.Bias is { } bias)
            {
                var values = file.ReadDoubles(bias.Entry);
                var target = extras.Get(m.Name + ".bias", 1, m.Rows, bias.Name);
                var cols = Enumerable.Range(0, m.Rows).Where(i => values[i] != 0).ToArray();
                target.AddMany(new int[cols.Length], cols, cols.Select(i => (float)(scale * values[i])).ToArray());
                results.Add(new ModuleImport(m.Name + ".bias", 1, m.Rows, m.Rank, scale, cols.Length, 1.0, m.ShapeChecked, "lora_bias"));
            }
        }
        foreach (var (name, group) in _experts)
        {
            progress?.Invoke(done++, total, name);
            foreach (var e in ExpertParameterLora.Import(name, group.Wrappers, group.Parameters, _config, _base, file))
            {
                var module = adapter.AddModuleFromDense(e.Tensor, e.Rows, e.Cols, e.Product, 0f, (float)e.Scale);
                results.Add(Keep(module, e.Rank, e.Scale, true, "expert_lora"));
            }
        }
        progress?.Invoke(total, total, "");
        return results;
    }

    /// <summary>Keeps the requested density of a module and accounts its energy (in units of the effective ΔW).</summary>
    private ModuleImport Keep(AdapterModule m, int rank, double scale, bool shapeChecked, string kind)
    {
        var (kept, total) = m.KeepTopCore(_options.Density, _options.Structure);
        _kept += kept * scale * scale;
        _total += total * scale * scale;
        return new ModuleImport(m.Name, m.Rows, m.Cols, rank, scale, m.ActiveCount, total == 0 ? 1 : Math.Sqrt(kept / total), shapeChecked, kind);
    }

    /// <summary>PEFT nests wrappers for several parameters of one module: "experts.base_layer.lora_A" is the inner one.</summary>
    private static string StripWrappers(string saved)
    {
        while (saved.EndsWith(".base_layer", StringComparison.Ordinal)) saved = saved[..^".base_layer".Length];
        return saved;
    }

    private static void CheckReal(PeftTensor t)
    {
        if (!t.Entry.DType.IsReadableReal())
            throw new InvalidDataException($"'{t.Name}' is {t.Entry.DType}; LoRA tensors are read from F32, F16, BF16 or F64 only");
    }
}

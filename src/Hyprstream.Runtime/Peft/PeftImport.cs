using Hyprstream.Runtime.Linalg;
using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Runtime.Peft;

/// <summary>
/// Imports a PEFT adapter directory (adapter_config.json + adapter_model.safetensors) into a <see cref="SparseAdapter"/>.
/// LoRA: ΔW = scale · B·A per module (scale = alpha/r, or alpha/√r with rsLoRA), kept at the requested density; the
/// module stores B·A and carries the scale. SHiRA: the stored values and [2, nnz] indices are imported as they are.
/// </summary>
public static class PeftImport
{
    public const string ConfigFile = "adapter_config.json";
    public const string WeightsFile = "adapter_model.safetensors";

    public static PeftImportResult Import(string adapterDir, PeftImportOptions? options = null, Action<int, int, string>? progress = null)
    {
        options ??= new PeftImportOptions();
        if (!(options.Density > 0 && options.Density <= 1)) throw new ArgumentOutOfRangeException(nameof(options), $"density must be in (0, 1], got {options.Density}");
        if (!Directory.Exists(adapterDir)) throw new DirectoryNotFoundException($"no adapter directory at '{adapterDir}'");
        var config = PeftAdapterConfig.Load(Path.Combine(adapterDir, ConfigFile));
        var weights = Path.Combine(adapterDir, WeightsFile);
        if (!File.Exists(weights))
            throw new FileNotFoundException(File.Exists(Path.Combine(adapterDir, "adapter_model.bin"))
                ? $"'{adapterDir}' has only adapter_model.bin (a pickle); convert it to {WeightsFile} first"
                : $"'{adapterDir}' has no {WeightsFile}", weights);
        var model = options.BaseConfigPath != null ? HfModelConfig.Load(options.BaseConfigPath) : null;
        var name = options.Name ?? Path.GetFileName(Path.GetFullPath(adapterDir).TrimEnd(Path.DirectorySeparatorChar));
        using var file = SafetensorsFile.Open(weights);
        var adapter = new SparseAdapter(name, config.BaseModel);
        try
        {
            adapter.Provenance["source"] = "peft";
            adapter.Provenance["peft_type"] = config.PeftType;
            adapter.Provenance["rank"] = config.R.ToString();
            var result = config.PeftType switch
            {
                "LORA" => ImportLora(file, config, model, options, adapter, progress),
                "SHIRA" => ImportShira(file, config, model ?? throw new ArgumentException(
                    "SHiRA adapters do not record their weight shapes: pass --base-config (the model's config.json)"), adapter, progress),
                _ => throw new NotSupportedException($"peft_type {config.PeftType} is not supported (LORA and SHIRA are)"),
            };
            return result;
        }
        catch
        {
            adapter.Dispose();
            throw;
        }
    }

    private static PeftImportResult ImportLora(SafetensorsFile file, PeftAdapterConfig config, HfModelConfig? model, PeftImportOptions options,
        SparseAdapter adapter, Action<int, int, string>? progress)
    {
        if (config.UseDora) throw new NotSupportedException("DoRA adapters (use_dora) are not supported: their ΔW depends on the base weights");
        if (config.FanInFanOut) throw new NotSupportedException("fan_in_fan_out adapters (GPT-2 Conv1D layers) are not supported");
        foreach (var t in file.Tensors)
        {
            if (t.Name.Contains(".lora_embedding_")) throw new NotSupportedException($"'{t.Name}': LoRA on embeddings is not supported");
            if (t.Name.Contains("lora_magnitude_vector")) throw new NotSupportedException($"'{t.Name}': DoRA magnitude vectors are not supported");
        }
        const string suffixA = ".lora_A.weight";
        var loraA = file.Tensors.Where(t => t.Name.EndsWith(suffixA, StringComparison.Ordinal))
            .ToDictionary(t => PeftKeys.ModuleOf(t.Name, suffixA), t => t, StringComparer.Ordinal);
        var modules = loraA.Keys.OrderBy(AdapterNames.LayerOf).ThenBy(m => m, StringComparer.Ordinal).ToList();
        if (modules.Count == 0) throw new InvalidDataException($"'{file.Path}' has no '*{suffixA}' tensors (not a LoRA adapter?)");
        foreach (var t in file.Tensors.Where(t => t.Name.EndsWith(".lora_B.weight", StringComparison.Ordinal)))
            if (!loraA.ContainsKey(PeftKeys.ModuleOf(t.Name, ".lora_B.weight"))) throw new InvalidDataException($"'{t.Name}' has no matching lora_A");
        adapter.Provenance["lora_alpha"] = config.LoraAlpha.ToString("R");
        adapter.Provenance["use_rslora"] = config.UseRsLora ? "true" : "false";
        adapter.Provenance["density"] = options.Density.ToString("R");
        adapter.Provenance["structure"] = options.Structure == SparsityStructure.Tile ? "tile" : "unstructured";
        var results = new List<ModuleImport>();
        double keptAll = 0, totalAll = 0;
        for (int i = 0; i < modules.Count; i++)
        {
            var module = modules[i];
            progress?.Invoke(i, modules.Count, module);
            var keyA = loraA[module];
            var keyB = file.TryGet(keyA.Name[..^suffixA.Length] + ".lora_B.weight", out var b) ? b : throw new InvalidDataException($"'{keyA.Name}' has no matching lora_B");
            var (r, cols) = keyA.Matrix();
            var (rows, rb) = keyB.Matrix();
            if (rb != r) throw new InvalidDataException($"module '{module}': lora_A is {keyA.ShapeText} and lora_B is {keyB.ShapeText}; their ranks differ");
            if (r != config.RankOf(module))
                throw new InvalidDataException($"module '{module}': tensors have rank {r} but adapter_config.json says r = {config.RankOf(module)}");
            bool isChecked = CheckShape(model, module, rows, cols);
            double scale = config.LoraScale(module);
            var delta = new float[TileMapping.DenseLength(rows, cols, $"module '{module}' (lora_B·lora_A)")];
            LowRankGemm.AddProduct(delta, rows, cols, file.ReadFloats(keyB), file.ReadFloats(keyA), r);
            var m = adapter.AddModuleFromDense(module, rows, cols, delta, 0f, (float)scale);
            var (kept, total) = m.KeepTopCore(options.Density, options.Structure);
            keptAll += kept * scale * scale;
            totalAll += total * scale * scale;
            results.Add(new ModuleImport(module, rows, cols, r, scale, m.ActiveCount, total == 0 ? 1 : Math.Sqrt(kept / total), isChecked));
        }
        progress?.Invoke(modules.Count, modules.Count, "");
        double energy = totalAll == 0 ? 1 : Math.Sqrt(keptAll / totalAll);
        adapter.Provenance["retained_energy"] = energy.ToString("R");
        return new PeftImportResult(adapter, config, results, energy);
    }

    private static PeftImportResult ImportShira(SafetensorsFile file, PeftAdapterConfig config, HfModelConfig model, SparseAdapter adapter,
        Action<int, int, string>? progress)
    {
        const string suffix = ".shira_weight";
        var keys = file.Tensors.Where(t => t.Name.EndsWith(suffix, StringComparison.Ordinal)).ToList();
        if (keys.Count == 0) throw new InvalidDataException($"'{file.Path}' has no '*{suffix}' tensors (not a SHiRA adapter?)");
        var results = new List<ModuleImport>();
        for (int i = 0; i < keys.Count; i++)
        {
            var module = PeftKeys.ModuleOf(keys[i].Name, suffix);
            progress?.Invoke(i, keys.Count, module);
            var idxKey = keys[i].Name[..^suffix.Length] + ".shira_indices";
            if (!file.TryGet(idxKey, out var idxEntry)) throw new InvalidDataException($"'{keys[i].Name}' has no matching '{idxKey}'");
            var values = file.ReadFloats(keys[i]);
            if (keys[i].Shape.Length != 1) throw new InvalidDataException($"'{keys[i].Name}' has shape {keys[i].ShapeText}; expected [nnz]");
            if (idxEntry.Shape.Length != 2 || idxEntry.Shape[0] != 2 || idxEntry.Shape[1] != values.Length)
                throw new InvalidDataException($"'{idxKey}' has shape {idxEntry.ShapeText}; expected [2, {values.Length}]");
            var shape = model.ShapeOf(module) ?? throw new InvalidDataException($"module '{module}': the base config gives no shape for it");
            var idx = file.ReadIntegers(idxEntry);
            int n = values.Length;
            var rowIdx = new int[n];
            var colIdx = new int[n];
            for (int j = 0; j < n; j++)
            {
                long r = idx[j], c = idx[n + j];
                if (r < 0 || r >= shape.Rows || c < 0 || c >= shape.Cols)
                    throw new InvalidDataException($"module '{module}': index {j} is ({r}, {c}), outside its {shape.Rows}x{shape.Cols} shape");
                rowIdx[j] = (int)r;
                colIdx[j] = (int)c;
            }
            var m = adapter.AddModule(module, shape.Rows, shape.Cols, (float)config.ShiraScaling);
            m.AddMany(rowIdx, colIdx, values);   // duplicate indices add up, as torch's sparse_coo does
            results.Add(new ModuleImport(module, shape.Rows, shape.Cols, config.R, config.ShiraScaling, m.ActiveCount, 1.0, true));
        }
        progress?.Invoke(keys.Count, keys.Count, "");
        adapter.Provenance["retained_energy"] = "1";
        return new PeftImportResult(adapter, config, results, 1.0);
    }

    private static bool CheckShape(HfModelConfig? model, string module, int rows, int cols)
    {
        if (model == null) return false;
        var expected = model.ShapeOf(module);
        if (expected == null) return false;
        if (expected.Value != (rows, cols))
            throw new InvalidDataException($"module '{module}' is {rows}x{cols} in the adapter but {expected.Value.Rows}x{expected.Value.Cols} in the base config");
        return true;
    }
}

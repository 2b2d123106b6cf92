using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Runtime.Peft;

/// <summary>
/// Imports a PEFT adapter directory (adapter_config.json + adapter_model.safetensors) into a <see cref="SparseAdapter"/>,
/// and never imports one wrongly: every tensor of the file is used, kept as a delta against the base, or named in a
/// refusal (or, with <see cref="PeftImportOptions.DropExtras"/>, in a note); every config field that changes what the
/// tensors mean is honoured or refused by name. LoRA: see <see cref="LoraImport"/>; SHiRA: <see cref="ShiraImport"/>;
/// the tensors beside the method's own: <see cref="PeftExtras"/>.
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
        if (config.PeftType is not ("LORA" or "SHIRA")) throw new NotSupportedException($"peft_type {config.PeftType} is not supported (LORA and SHIRA are)");
        if (config.MeaningChanges.Count > 0)
            throw new NotSupportedException($"'{Path.Combine(adapterDir, ConfigFile)}' sets {string.Join("; ", config.MeaningChanges.Select(c => $"{c.Field}: {c.Reason}"))}");
        if (config.FanInFanOut)
            throw new NotSupportedException("fan_in_fan_out adapters (GPT-2 Conv1D layers, whose weights are stored in x out) are not supported");
        var model = options.BaseConfigPath != null ? HfModelConfig.Load(options.BaseConfigPath) : null;
        var name = options.Name ?? Path.GetFileName(Path.GetFullPath(adapterDir).TrimEnd(Path.DirectorySeparatorChar));
        using var baseWeights = options.BasePath != null ? BaseWeights.Open(options.BasePath) : null;
        using var file = SafetensorsFile.Open(weights);
        var tensors = PeftTensors.Classify(file);

        // Decide everything before computing anything: a refusal costs no work and names every cause at once.
        var shapes = new ModuleShapes(model, baseWeights);
        IPeftMethod method = config.PeftType == "LORA"
            ? LoraImport.Plan(tensors, config, shapes, baseWeights, options)
            : ShiraImport.Plan(tensors, config, shapes);
        var used = method.Used.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var decisions = PeftExtras.Decide(tensors.Where(t => !used.Contains(t.Name)), config, baseWeights);
        var problems = decisions.Where(d => d.Outcome == PeftExtras.Outcome.Problem).ToList();
        if (problems.Count > 0 && !options.DropExtras)
            throw new NotSupportedException(
                $"'{weights}' has {problems.Count} tensor(s) this import cannot keep, and leaving them out would change the model: " +
                string.Join("; ", problems.Select(p => p.Describe())) + ". Pass --drop-extras to import without them knowingly");
        var notes = decisions.Where(d => d.Outcome == PeftExtras.Outcome.Skip).Select(d => "skipped " + d.Describe())
            .Concat(problems.Select(p => "dropped " + p.Describe())).ToList();

        var adapter = new SparseAdapter(name, config.BaseModel);
        try
        {
            adapter.Provenance["source"] = "peft";
            adapter.Provenance["peft_type"] = config.PeftType;
            adapter.Provenance["rank"] = config.R.ToString();
            if (config.TaskType != null) adapter.Provenance["task_type"] = config.TaskType;
            var extras = new ExtraModules(adapter);
            var results = method.Run(file, adapter, extras, progress);
            var replaced = decisions.Where(d => d.Outcome is PeftExtras.Outcome.Replace or PeftExtras.Outcome.TrainableTokens).ToList();
            if (replaced.Count > 0) PeftExtras.Apply(replaced, file, baseWeights!, extras, results);
            if (replaced.Count > 0) adapter.Provenance["replaced_tensors"] = string.Join(",", replaced.Select(d => d.Tensor.Name));
            if (problems.Count > 0) adapter.Provenance["dropped_tensors"] = string.Join(",", problems.Select(d => d.Tensor.Name));
            if (baseWeights != null && (replaced.Count > 0 || config.UseDora || method.ReadsBase))
                adapter.Provenance["base_weights"] = Path.GetFileName(baseWeights.Path);
            double energy = method.RetainedEnergy;
            adapter.Provenance["retained_energy"] = energy.ToString("R");
            return new PeftImportResult(adapter, config, results, energy, notes);
        }
        catch
        {
            adapter.Dispose();
            throw;
        }
    }
}

/// <summary>One PEFT method's import, planned (every check, no heavy reads) and then run.</summary>
internal interface IPeftMethod
{
    /// <summary>The tensors the method consumes; every other tensor goes to <see cref="PeftExtras"/>.</summary>
    IReadOnlyCollection<PeftTensor> Used { get; }
    /// <summary>Whether some module's ΔW was computed from the base weights (DoRA, target_parameters layouts).</summary>
    bool ReadsBase { get; }
    /// <summary>‖ΔW_kept‖_F / ‖ΔW‖_F over the method's modules, once run.</summary>
    double RetainedEnergy { get; }
    List<ModuleImport> Run(SafetensorsFile file, SparseAdapter adapter, ExtraModules extras, Action<int, int, string>? progress);
}

/// <summary>A module's expected (out, in): from the base weights (any module name), else from the model config.</summary>
internal sealed class ModuleShapes(HfModelConfig? model, BaseWeights? baseWeights)
{
    public bool Any => model != null || baseWeights != null;

    /// <summary>The shape both sources agree on (null when neither knows it); a disagreement is an error naming both.</summary>
    public (int Rows, int Cols)? Expected(string module)
    {
        var fromConfig = model?.ShapeOf(module);
        var fromBase = baseWeights?.ShapeOf(module);
        if (fromConfig is { } c && fromBase is { } b && c != b)
            throw new InvalidDataException($"module '{module}' is {b.Rows}x{b.Cols} in the base weights but {c.Rows}x{c.Cols} by the base config");
        return fromBase ?? fromConfig;
    }

    /// <summary>Checks a module's shape as the adapter gives it; true when some source confirmed it.</summary>
    public bool Check(string module, int rows, int cols)
    {
        if (baseWeights != null && baseWeights.Find(module) == null)
            throw new InvalidDataException($"module '{module}': the base weights have no tensor '{PeftKeys.BaseWeight(module)}'");
        var expected = Expected(module);
        if (expected == null) return false;
        if (expected.Value != (rows, cols))
            throw new InvalidDataException($"module '{module}' is {rows}x{cols} in the adapter but {expected.Value.Rows}x{expected.Value.Cols} in the base {(baseWeights != null ? "weights" : "config")}");
        return true;
    }
}

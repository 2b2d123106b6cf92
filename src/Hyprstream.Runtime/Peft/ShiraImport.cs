using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Runtime.Peft;

/// <summary>
/// PEFT SHiRA: each module's <c>shira_weight</c> [nnz] at <c>shira_indices</c> [2, nnz] (row, col) is its ΔW (times
/// the config's scaling), imported as stored: lossless. The file holds no shapes, so each module's comes from the
/// base weights (--base: any module name) or the model config (--base-config: the seven projections and MoE experts);
/// a module neither gives is refused, naming it.
/// </summary>
internal sealed class ShiraImport : IPeftMethod
{
    private sealed record Module(string Name, PeftTensor Weight, PeftTensor Indices, int Rows, int Cols);

    private readonly List<Module> _modules = new();
    private readonly List<PeftTensor> _used = new();
    private readonly PeftAdapterConfig _config;

    private ShiraImport(PeftAdapterConfig config) => _config = config;

    public IReadOnlyCollection<PeftTensor> Used => _used;
    public bool ReadsBase => false;
    public double RetainedEnergy => 1.0;

    public static ShiraImport Plan(IReadOnlyList<PeftTensor> tensors, PeftAdapterConfig config, ModuleShapes shapes)
    {
        var plan = new ShiraImport(config);
        var weights = tensors.Where(t => t.Role == PeftTensorRole.ShiraWeight).ToList();
        if (weights.Count == 0) throw new InvalidDataException("the adapter has no '*.shira_weight' tensors (not a SHiRA adapter?)");
        if (!shapes.Any)
            throw new ArgumentException("SHiRA adapters do not record their weight shapes: pass --base (the base weights, any module name) or --base-config (the model's config.json)");
        var indices = tensors.Where(t => t.Role == PeftTensorRole.ShiraIndices).ToDictionary(t => t.Module, StringComparer.Ordinal);
        var missing = new List<string>();
        foreach (var w in weights)
        {
            var idx = indices.TryGetValue(w.Module, out var i) ? i : throw new InvalidDataException($"'{w.Name}' has no matching '{w.Name[..^".shira_weight".Length]}.shira_indices'");
            if (!w.Entry.DType.IsReadableReal()) throw new InvalidDataException($"'{w.Name}' is {w.Entry.DType}; SHiRA values are read from F32, F16, BF16 or F64 only");
            if (idx.Entry.DType is not (TensorDType.I64 or TensorDType.I32 or TensorDType.F32))
                throw new InvalidDataException($"'{idx.Name}' is {idx.Entry.DType}; SHiRA indices are read from I64, I32 or whole-number F32");
            if (w.Entry.Shape.Length != 1) throw new InvalidDataException($"'{w.Name}' has shape {w.Entry.ShapeText}; expected [nnz]");
            if (idx.Entry.Shape.Length != 2 || idx.Entry.Shape[0] != 2 || idx.Entry.Shape[1] != w.Entry.Shape[0])
                throw new InvalidDataException($"'{idx.Name}' has shape {idx.Entry.ShapeText}; expected [2, {w.Entry.Shape[0]}]");
            var shape = shapes.Expected(w.Module);
            if (shape == null) { missing.Add(w.Module); continue; }
            plan._used.Add(w);
            plan._used.Add(idx);
            plan._modules.Add(new Module(w.Module, w, idx, shape.Value.Rows, shape.Value.Cols));
        }
        if (missing.Count > 0)
            throw new InvalidDataException(
                $"SHiRA files hold no shapes, and no shape is known for {string.Join(", ", missing.Select(m => $"'{m}' (no base tensor '{PeftKeys.BaseWeight(m)}' and no config rule)"))}; " +
                "--base gives any module's shape, --base-config only q/k/v/o/gate/up/down and MoE experts");
        return plan;
    }

    public List<ModuleImport> Run(SafetensorsFile file, SparseAdapter adapter, ExtraModules extras, Action<int, int, string>? progress)
    {
        var results = new List<ModuleImport>();
        for (int i = 0; i < _modules.Count; i++)
        {
            var m = _modules[i];
            progress?.Invoke(i, _modules.Count, m.Name);
            var values = file.ReadFloats(m.Weight.Entry);
            var idx = file.ReadIntegers(m.Indices.Entry);
            int n = values.Length;
            var rowIdx = new int[n];
            var colIdx = new int[n];
            for (int j = 0; j < n; j++)
            {
                long r = idx[j], c = idx[n + j];
                if (r < 0 || r >= m.Rows || c < 0 || c >= m.Cols)
                    throw new InvalidDataException($"module '{m.Name}': index {j} is ({r}, {c}), outside its {m.Rows}x{m.Cols} shape");
                rowIdx[j] = (int)r;
                colIdx[j] = (int)c;
            }
            var module = adapter.AddModule(m.Name, m.Rows, m.Cols, (float)_config.ShiraScaling);
            module.AddMany(rowIdx, colIdx, values);   // duplicate indices add up, as torch's sparse_coo does
            results.Add(new ModuleImport(m.Name, m.Rows, m.Cols, _config.R, _config.ShiraScaling, module.ActiveCount, 1.0, true, "shira"));
        }
        progress?.Invoke(_modules.Count, _modules.Count, "");
        adapter.Provenance["retained_energy"] = "1";
        return results;
    }
}

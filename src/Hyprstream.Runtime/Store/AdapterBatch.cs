namespace Hyprstream.Runtime.Store;

/// <summary>What one step of a batch does to an adapter.</summary>
public enum BatchOpKind : byte
{
    DefineModule = 1,
    Set = 2,
    Add = 3,
    Prune = 4,
    RemoveModule = 5,
    SetMetadata = 6,
}

/// <summary>One step of a batch. Set/Add carry parallel arrays; Prune's module "" means every module.</summary>
public sealed record BatchOp(BatchOpKind Kind, string Module, int Rows = 0, int Cols = 0, float Scalar = 0f,
    int[]? RowIndex = null, int[]? ColIndex = null, float[]? Values = null, string? Key = null, string? Text = null)
{
    public long WeightCount => Values?.Length ?? 0;
}

/// <summary>
/// An ordered list of changes to one adapter that the store logs as one WAL record and applies all-or-nothing:
/// a reader sees the adapter before the batch or after it, never in between.
/// </summary>
public sealed class AdapterBatch
{
    private readonly List<BatchOp> _ops = [];
    public IReadOnlyList<BatchOp> Ops => _ops;
    public long WeightCount => _ops.Sum(o => o.WeightCount);

    public AdapterBatch DefineModule(string module, int rows, int cols, float scale = 1f)
    {
        AdapterNames.ValidateModule(module, nameof(module));
        if (rows <= 0 || cols <= 0) throw new ArgumentException($"module '{module}' has shape {rows}x{cols}; both must be > 0");
        if (!float.IsFinite(scale)) throw new ArgumentException($"module '{module}' scale is {scale}");
        _ops.Add(new BatchOp(BatchOpKind.DefineModule, module, rows, cols, scale));
        return this;
    }

    public AdapterBatch Set(string module, int[] rows, int[] cols, float[] values) => Weights(BatchOpKind.Set, module, rows, cols, values);
    public AdapterBatch Add(string module, int[] rows, int[] cols, float[] values) => Weights(BatchOpKind.Add, module, rows, cols, values);

    public AdapterBatch Prune(float tolerance, string module = "")
    {
        if (!float.IsFinite(tolerance) || tolerance < 0) throw new ArgumentException($"prune tolerance {tolerance} must be finite and >= 0");
        _ops.Add(new BatchOp(BatchOpKind.Prune, module, Scalar: tolerance));
        return this;
    }

    public AdapterBatch RemoveModule(string module)
    {
        _ops.Add(new BatchOp(BatchOpKind.RemoveModule, AdapterNames.ValidateModule(module, nameof(module))));
        return this;
    }

    public AdapterBatch SetMetadata(string key, string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        _ops.Add(new BatchOp(BatchOpKind.SetMetadata, "", Key: key, Text: value));
        return this;
    }

    internal void AddOp(BatchOp op) => _ops.Add(op);

    private AdapterBatch Weights(BatchOpKind kind, string module, int[] rows, int[] cols, float[] values)
    {
        AdapterNames.ValidateModule(module, nameof(module));
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(cols);
        ArgumentNullException.ThrowIfNull(values);
        if (rows.Length != cols.Length || rows.Length != values.Length)
            throw new ArgumentException($"rows, cols and values differ in length ({rows.Length}, {cols.Length}, {values.Length})");
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) throw new ArgumentException($"value {i} for module '{module}' is {values[i]}; weights must be finite");
        _ops.Add(new BatchOp(kind, module, RowIndex: rows, ColIndex: cols, Values: values));
        return this;
    }

    /// <summary>Checks the batch against the adapter's modules before anything is logged, so replay can never fail.</summary>
    internal void Validate(SparseAdapter adapter)
    {
        var shapes = adapter.Modules.ToDictionary(m => m.Name, m => (m.Rows, m.Cols), StringComparer.Ordinal);
        foreach (var op in _ops)
        {
            switch (op.Kind)
            {
                case BatchOpKind.DefineModule:
                    if (shapes.TryGetValue(op.Module, out var s) && (s.Rows != op.Rows || s.Cols != op.Cols))
                        throw new ArgumentException($"module '{op.Module}' exists with shape {s.Rows}x{s.Cols}, not {op.Rows}x{op.Cols}");
                    shapes[op.Module] = (op.Rows, op.Cols);
                    break;
                case BatchOpKind.Set or BatchOpKind.Add:
                    if (!shapes.TryGetValue(op.Module, out var shape))
                        throw new KeyNotFoundException($"adapter '{adapter.Name}' has no module '{op.Module}'");
                    for (int i = 0; i < op.Values!.Length; i++)
                        if ((uint)op.RowIndex![i] >= (uint)shape.Rows || (uint)op.ColIndex![i] >= (uint)shape.Cols)
                            throw new ArgumentOutOfRangeException(nameof(op), $"({op.RowIndex[i]}, {op.ColIndex[i]}) is outside module '{op.Module}' [{shape.Rows}x{shape.Cols}]");
                    break;
                case BatchOpKind.Prune when op.Module.Length > 0:
                case BatchOpKind.RemoveModule:
                    if (!shapes.ContainsKey(op.Module)) throw new KeyNotFoundException($"adapter '{adapter.Name}' has no module '{op.Module}'");
                    if (op.Kind == BatchOpKind.RemoveModule) shapes.Remove(op.Module);
                    break;
            }
        }
    }

    /// <summary>Applies every step; the caller holds the adapter's write lock so the batch is seen whole.</summary>
    internal void ApplyTo(SparseAdapter adapter)
    {
        foreach (var op in _ops)
        {
            switch (op.Kind)
            {
                case BatchOpKind.DefineModule:
                    if (!adapter.Modules.Contains(op.Module)) adapter.AddModule(op.Module, op.Rows, op.Cols, op.Scalar);
                    else adapter.Modules[op.Module].Scale = op.Scalar;
                    break;
                case BatchOpKind.Set:
                    adapter.Modules[op.Module].SetMany(op.RowIndex, op.ColIndex, op.Values);
                    break;
                case BatchOpKind.Add:
                    adapter.Modules[op.Module].AddMany(op.RowIndex, op.ColIndex, op.Values);
                    break;
                case BatchOpKind.Prune:
                    if (op.Module.Length == 0) adapter.Prune(op.Scalar);
                    else adapter.Modules[op.Module].Prune(op.Scalar);
                    break;
                case BatchOpKind.RemoveModule:
                    adapter.RemoveModule(op.Module);
                    break;
                case BatchOpKind.SetMetadata:
                    adapter.Metadata[op.Key!] = op.Text!;
                    break;
            }
        }
    }

    /// <summary>The whole adapter as one batch (modules, weights, metadata): the cache's compressed form.</summary>
    public static AdapterBatch FromAdapter(SparseAdapter adapter, float scale = 1f, bool defineModules = true)
    {
        var b = new AdapterBatch();
        foreach (var m in adapter.Modules)
        {
            if (defineModules) b.DefineModule(m.Name, m.Rows, m.Cols, m.Scale);
            var (r, c, v) = m.ReadActive();
            if (scale != 1f) for (int i = 0; i < v.Length; i++) v[i] *= scale;
            if (v.Length > 0) b._ops.Add(new BatchOp(defineModules ? BatchOpKind.Set : BatchOpKind.Add, m.Name, RowIndex: r, ColIndex: c, Values: v));
        }
        if (defineModules)
            foreach (var (k, v) in adapter.Metadata) b.SetMetadata(k, v);
        return b;
    }
}

namespace Hyprstream.Runtime.Store;

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
        AdapterLimits.CheckShape(module, rows, cols);
        if (!float.IsFinite(scale)) throw new ArgumentException($"module '{module}' scale is {scale}");
        _ops.Add(new BatchOp(BatchOpKind.DefineModule, module, rows, cols, scale));
        return this;
    }

    public AdapterBatch Set(string module, int[] rows, int[] cols, float[] values) => Weights(BatchOpKind.Set, module, rows, cols, values);
    public AdapterBatch Add(string module, int[] rows, int[] cols, float[] values) => Weights(BatchOpKind.Add, module, rows, cols, values);

    /// <summary>
    /// Replaces whole 8×64 tiles (see <see cref="AdapterModule.SetTiles"/>): values hold 512 floats per tile, row-major;
    /// zeros are not stored, a tile of zeros is removed, a tile listed twice takes the later values.
    /// </summary>
    public AdapterBatch SetTiles(string module, int[] tileRows, int[] tileCols, float[] values) => Tiles(BatchOpKind.SetTiles, module, tileRows, tileCols, values);

    /// <summary>Adds whole 8×64 tiles elementwise (see <see cref="AdapterModule.AddTiles"/>); layout as <see cref="SetTiles"/>.</summary>
    public AdapterBatch AddTiles(string module, int[] tileRows, int[] tileCols, float[] values) => Tiles(BatchOpKind.AddTiles, module, tileRows, tileCols, values);

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

    /// <summary>The SetMetadata target that writes <see cref="SparseAdapter.Provenance"/> instead of metadata.</summary>
    public const string ProvenanceTarget = "@provenance";

    public AdapterBatch SetMetadata(string key, string value) => Describe("", key, value);
    public AdapterBatch SetProvenance(string key, string value) => Describe(ProvenanceTarget, key, value);

    private AdapterBatch Describe(string target, string key, string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        _ops.Add(new BatchOp(BatchOpKind.SetMetadata, target, Key: key, Text: value));
        return this;
    }

    /// <summary>Keeps the largest fraction of weights (or whole 8×64 tiles) of one module, or of every module with "".</summary>
    public AdapterBatch KeepTop(float fraction, SparsityStructure structure, string module = "")
    {
        if (!(fraction >= 0 && fraction <= 1)) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "fraction must be in [0, 1]");
        if (!Enum.IsDefined(structure)) throw new ArgumentOutOfRangeException(nameof(structure));
        _ops.Add(new BatchOp(BatchOpKind.KeepTop, module, Rows: (int)structure, Scalar: fraction));
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

    private AdapterBatch Tiles(BatchOpKind kind, string module, int[] tileRows, int[] tileCols, float[] values)
    {
        AdapterNames.ValidateModule(module, nameof(module));
        ArgumentNullException.ThrowIfNull(tileRows);
        ArgumentNullException.ThrowIfNull(tileCols);
        ArgumentNullException.ThrowIfNull(values);
        TileChecks.CheckLengths(tileRows.Length, tileCols.Length, values.Length);
        long bad = TileChecks.FirstNonFinite(values);
        if (bad >= 0) throw new ArgumentException($"value {bad % TileMapping.TileSize} of tile {bad / TileMapping.TileSize} for module '{module}' is {values[bad]}; weights must be finite");
        _ops.Add(new BatchOp(kind, module, RowIndex: tileRows, ColIndex: tileCols, Values: values));
        return this;
    }

    /// <summary>
    /// Checks the batch against the adapter's modules (shapes, bounds, and that no add overflows float32) before
    /// anything is logged, so neither the live apply nor a replay can fail half-way. The caller holds the write lock.
    /// </summary>
    internal void Validate(SparseAdapter adapter)
    {
        var shapes = adapter.Modules.ToDictionary(m => m.Name, m => (m.Rows, m.Cols), StringComparer.Ordinal);
        long declared = adapter.DeclaredTiles;
        foreach (var op in _ops)
        {
            if (op.Kind == BatchOpKind.KeepTop && (!(op.Scalar >= 0 && op.Scalar <= 1) || !Enum.IsDefined((SparsityStructure)op.Rows)))
                throw new ArgumentException($"keep-top fraction {op.Scalar} must be in [0, 1] with a known structure");
            if (op.Kind == BatchOpKind.Prune && (!float.IsFinite(op.Scalar) || op.Scalar < 0))
                throw new ArgumentException($"prune tolerance {op.Scalar} must be finite and >= 0");
            switch (op.Kind)
            {
                case BatchOpKind.DefineModule:
                    if (shapes.TryGetValue(op.Module, out var s))
                    {
                        if (s.Rows != op.Rows || s.Cols != op.Cols)
                            throw new ArgumentException($"module '{op.Module}' exists with shape {s.Rows}x{s.Cols}, not {op.Rows}x{op.Cols}");
                        break;
                    }
                    // The same rules AddModule applies on replay: a batch that passes here cannot fail there.
                    AdapterLimits.CheckShape(op.Module, op.Rows, op.Cols);
                    long tiles = TileMapping.TileCount(op.Rows, op.Cols);
                    AdapterLimits.CheckTiles(adapter.Name, op.Module, declared, tiles);
                    declared += tiles;
                    shapes[op.Module] = (op.Rows, op.Cols);
                    break;
                case BatchOpKind.Set or BatchOpKind.Add:
                    if (!shapes.TryGetValue(op.Module, out var shape))
                        throw new KeyNotFoundException($"adapter '{adapter.Name}' has no module '{op.Module}'");
                    for (int i = 0; i < op.Values!.Length; i++)
                        if ((uint)op.RowIndex![i] >= (uint)shape.Rows || (uint)op.ColIndex![i] >= (uint)shape.Cols)
                            throw new ArgumentOutOfRangeException(nameof(op), $"({op.RowIndex![i]}, {op.ColIndex![i]}) is outside module '{op.Module}' [{shape.Rows}x{shape.Cols}]");
                    break;
                case BatchOpKind.SetTiles or BatchOpKind.AddTiles:
                    if (!shapes.TryGetValue(op.Module, out var tileShape))
                        throw new KeyNotFoundException($"adapter '{adapter.Name}' has no module '{op.Module}'");
                    // Range, finite values (a decoded record never passed the builder) and zero padding.
                    TileChecks.Check(op.Module, tileShape.Rows, tileShape.Cols, op.RowIndex, op.ColIndex, op.Values);
                    break;
                case BatchOpKind.Prune or BatchOpKind.KeepTop when op.Module.Length > 0:
                case BatchOpKind.RemoveModule:
                    if (!shapes.TryGetValue(op.Module, out var gone)) throw new KeyNotFoundException($"adapter '{adapter.Name}' has no module '{op.Module}'");
                    if (op.Kind == BatchOpKind.RemoveModule)
                    {
                        shapes.Remove(op.Module);
                        declared -= TileMapping.TileCount(gone.Rows, gone.Cols);
                    }
                    break;
            }
        }
        // Bounds are checked: the stored values the sums start from can be read.
        if (_ops.Any(o => o.Kind is BatchOpKind.Add or BatchOpKind.AddTiles)) CheckSums(adapter);
    }

    /// <summary>
    /// Refuses an add whose running sum (the stored value plus every earlier write to the same cell in this batch)
    /// would overflow float32: the native layer would refuse it after the record was logged. Sums are float32, as the
    /// native adds compute them. Cells are followed one by one for Set/Add; a tile that a tile op touches is followed
    /// whole from then on (with the cells this batch wrote into it before). Set/Add/SetTiles/AddTiles are followed;
    /// other steps in between are not expected (the service never mixes them).
    /// </summary>
    private void CheckSums(SparseAdapter adapter)
    {
        const int T = TileMapping.TileSize, C = TileMapping.TileCols;
        var cells = new Dictionary<(string, int, int), float>();
        var cellTiles = new HashSet<(string, int, int)>(); // tiles some entry of `cells` lies in
        var tiles = new Dictionary<(string, int, int), float[]>();
        foreach (var op in _ops)
        {
            switch (op.Kind)
            {
                case BatchOpKind.Set or BatchOpKind.Add:
                {
                    bool add = op.Kind == BatchOpKind.Add;
                    float[]? old = null;
                    if (add)
                    {
                        old = new float[op.Values!.Length]; // a module defined earlier in this batch starts at zero
                        if (adapter.Modules.TryGet(op.Module, out var m)) m.GetMany(op.RowIndex, op.ColIndex, old);
                    }
                    for (int i = 0; i < op.Values!.Length; i++)
                    {
                        int r = op.RowIndex![i], c = op.ColIndex![i];
                        float v = op.Values[i];
                        var tileKey = (op.Module, r >> 3, c >> 6);
                        if (tiles.TryGetValue(tileKey, out var tile))
                        {
                            int j = (r & 7) * C + (c & 63);
                            tile[j] = add ? Sum(tile[j], v, op.Module, r, c) : v;
                            continue;
                        }
                        var key = (op.Module, r, c);
                        cells[key] = add ? Sum(cells.TryGetValue(key, out var s) ? s : old![i], v, op.Module, r, c) : v;
                        cellTiles.Add(tileKey);
                    }
                    break;
                }
                case BatchOpKind.SetTiles or BatchOpKind.AddTiles:
                {
                    bool add = op.Kind == BatchOpKind.AddTiles;
                    int n = op.RowIndex!.Length;
                    float[]? stored = null;
                    if (add)
                    {
                        stored = new float[(long)n * T];
                        if (adapter.Modules.TryGet(op.Module, out var m)) m.GetTiles(op.RowIndex, op.ColIndex, stored);
                    }
                    for (int t = 0; t < n; t++)
                    {
                        int tr = op.RowIndex[t], tc = op.ColIndex![t];
                        var key = (op.Module, tr, tc);
                        var src = op.Values.AsSpan(t * T, T);
                        if (!add)
                        {
                            tiles[key] = src.ToArray();
                            continue;
                        }
                        if (!tiles.TryGetValue(key, out var cur))
                        {
                            cur = stored.AsSpan(t * T, T).ToArray();
                            if (cellTiles.Contains(key))
                                for (int j = 0; j < T; j++)
                                    if (cells.TryGetValue((op.Module, tr * TileMapping.TileRows + j / C, tc * C + j % C), out var v)) cur[j] = v;
                            tiles[key] = cur;
                        }
                        for (int j = 0; j < T; j++)
                            if (src[j] != 0f) cur[j] = Sum(cur[j], src[j], op.Module, tr * TileMapping.TileRows + j / C, tc * C + j % C);
                    }
                    break;
                }
            }
        }
    }

    private static float Sum(float old, float add, string module, int row, int col)
    {
        float sum = old + add;
        if (!float.IsFinite(sum))
            throw new ArgumentException($"adding {add} to ({row}, {col}) of module '{module}' would overflow float32");
        return sum;
    }

    /// <summary>Applies every step; the caller holds the adapter's write lock so the batch is seen whole.</summary>
    internal BatchOutcome ApplyTo(SparseAdapter adapter)
    {
        long removed = 0;
        double? energy = null;
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
                case BatchOpKind.SetTiles:
                    adapter.Modules[op.Module].SetTiles(op.RowIndex, op.ColIndex, op.Values);
                    break;
                case BatchOpKind.AddTiles:
                    adapter.Modules[op.Module].AddTiles(op.RowIndex, op.ColIndex, op.Values);
                    break;
                case BatchOpKind.Prune:
                    removed += op.Module.Length == 0 ? adapter.Prune(op.Scalar) : adapter.Modules[op.Module].Prune(op.Scalar);
                    break;
                case BatchOpKind.KeepTop:
                    energy = op.Module.Length == 0
                        ? adapter.KeepTopFraction(op.Scalar, (SparsityStructure)op.Rows)
                        : adapter.Modules[op.Module].KeepTopFraction(op.Scalar, (SparsityStructure)op.Rows);
                    break;
                case BatchOpKind.RemoveModule:
                    adapter.RemoveModule(op.Module);
                    break;
                case BatchOpKind.SetMetadata:
                    (op.Module == ProvenanceTarget ? adapter.Provenance : adapter.Metadata)[op.Key!] = op.Text!;
                    break;
            }
        }
        return new BatchOutcome(removed, energy);
    }

    /// <summary>
    /// Checks the batch against the adapter, then applies it, under the adapter's write lock: refused, it changes
    /// nothing. The rules are the ones a record was checked by before it was logged (replay and repair use this).
    /// </summary>
    internal BatchOutcome ApplyValidated(SparseAdapter adapter)
    {
        using (adapter.WriteScope())
        {
            Validate(adapter);
            return ApplyTo(adapter);
        }
    }

    /// <summary>
    /// A new adapter built by this batch (validated first when asked); disposed again if anything fails. Skip the
    /// validation only for a batch that was checked when it was made (a log record, a cached form this process wrote).
    /// </summary>
    public SparseAdapter Build(string name, string? baseModel, bool validate = true)
    {
        var a = new SparseAdapter(name, baseModel);
        try
        {
            if (validate) ApplyValidated(a);
            else using (a.WriteScope()) ApplyTo(a);
            return a;
        }
        catch
        {
            a.Dispose();
            throw;
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
        {
            foreach (var (k, v) in adapter.Metadata) b.SetMetadata(k, v);
            foreach (var (k, v) in adapter.Provenance) b.SetProvenance(k, v);
        }
        return b;
    }
}

using Hyprstream.Interop;
using Hyprstream.Interop.OpenVdb;

namespace Hyprstream.Runtime;

/// <summary>
/// One linear layer's sparse ΔW (rows × cols = out × in) inside a <see cref="SparseAdapter"/>. The effective delta
/// is <see cref="Scale"/> × the stored weights. Thread safety and lifetime are the owning adapter's.
/// </summary>
public sealed unsafe class AdapterModule : IModuleSource
{
    private float _scale;

    internal AdapterModule(SparseAdapter adapter, string name, int layer, int rows, int cols, float scale, long slotBase)
    {
        Adapter = adapter;
        Name = name;
        Layer = layer;
        Rows = rows;
        Cols = cols;
        _scale = scale;
        SlotBase = slotBase;
    }

    public SparseAdapter Adapter { get; }
    /// <summary>Full module name, e.g. "model.layers.3.self_attn.q_proj".</summary>
    public string Name { get; }
    /// <summary>Layer index parsed from the name (or given), -1 when there is none.</summary>
    public int Layer { get; }
    public int Rows { get; }
    public int Cols { get; }
    /// <summary>First tile slot of this module in the adapter's grid (see <see cref="TileMapping"/>).</summary>
    public long SlotBase { get; internal set; }
    public long TotalWeights => (long)Rows * Cols;
    internal bool Removed { get; set; }
    internal HsModule Native => new(SlotBase, Rows, Cols);

    /// <summary>Multiplier applied to the stored weights when the delta is used (e.g. LoRA's alpha / r).</summary>
    public float Scale
    {
        get => _scale;
        set
        {
            if (!float.IsFinite(value)) throw new ArgumentException("scale must be finite", nameof(value));
            using var scope = Adapter.WriteScope(this);
            _scale = value;
        }
    }

    public float this[int row, int col]
    {
        get => Get(row, col);
        set => Set(row, col, value);
    }

    public float Get(int row, int col)
    {
        using var scope = Adapter.ReadScope(this);
        Status.Check(Hs.hs_grid_get(Adapter.Grid, Native, row, col, out var v, out _));
        return v;
    }

    /// <summary>True when (row, col) holds a stored weight (it may be 0 if it was set to 0).</summary>
    public bool IsActive(int row, int col)
    {
        using var scope = Adapter.ReadScope(this);
        Status.Check(Hs.hs_grid_get(Adapter.Grid, Native, row, col, out _, out var active));
        return active != 0;
    }

    public void Set(int row, int col, float value)
    {
        using var scope = Adapter.WriteScope(this);
        Status.Check(Hs.hs_grid_set(Adapter.Grid, Native, row, col, value));
    }

    public void Add(int row, int col, float value)
    {
        using var scope = Adapter.WriteScope(this);
        Status.Check(Hs.hs_grid_add(Adapter.Grid, Native, row, col, value));
    }

    /// <summary>Sets a batch; all entries are validated first, so one bad entry changes nothing.</summary>
    public void SetMany(ReadOnlySpan<int> rows, ReadOnlySpan<int> cols, ReadOnlySpan<float> values)
    {
        CheckLengths(rows.Length, cols.Length, values.Length);
        using var scope = Adapter.WriteScope(this);
        fixed (int* r = rows) fixed (int* c = cols) fixed (float* v = values)
            Status.Check(Hs.hs_grid_set_many(Adapter.Grid, Native, r, c, v, rows.Length));
    }

    /// <summary>Adds a batch (duplicates accumulate); all or nothing, as <see cref="SetMany"/>.</summary>
    public void AddMany(ReadOnlySpan<int> rows, ReadOnlySpan<int> cols, ReadOnlySpan<float> values)
    {
        CheckLengths(rows.Length, cols.Length, values.Length);
        using var scope = Adapter.WriteScope(this);
        fixed (int* r = rows) fixed (int* c = cols) fixed (float* v = values)
            Status.Check(Hs.hs_grid_add_many(Adapter.Grid, Native, r, c, v, rows.Length));
    }

    /// <summary>Reads a batch of weights (0 where nothing is stored).</summary>
    public void GetMany(ReadOnlySpan<int> rows, ReadOnlySpan<int> cols, Span<float> values)
    {
        CheckLengths(rows.Length, cols.Length, values.Length);
        using var scope = Adapter.ReadScope(this);
        fixed (int* r = rows) fixed (int* c = cols) fixed (float* v = values)
            Status.Check(Hs.hs_grid_get_many(Adapter.Grid, Native, r, c, v, rows.Length));
    }

    public long ActiveCount => Count(&Hs.hs_grid_active_count);

    /// <summary>Number of allocated 8×64 tiles (each costs ~2.1 KB in memory whatever its fill).</summary>
    public long TileCount => Count(&Hs.hs_grid_leaf_count);

    /// <summary>Stored 8×64 tiles (the same count as <see cref="TileCount"/>): the tiles a full <see cref="OpenTileCursor"/> read returns.</summary>
    public long StoredTileCount => TileCount;

    private long Count(delegate*<Interop.Handles.GridHandle, HsModule*, out long, int> count)
    {
        using var scope = Adapter.ReadScope(this);
        var m = Native;
        Status.Check(count(Adapter.Grid, &m, out var n));
        return n;
    }

    public double Density => (double)ActiveCount / TotalWeights;
    public double Sparsity => 1.0 - Density;

    /// <summary>‖stored weights‖_F (the scale is not applied).</summary>
    public double FrobeniusNorm
    {
        get
        {
            using var scope = Adapter.ReadScope(this);
            var m = Native;
            Status.Check(Hs.hs_grid_sum_squares(Adapter.Grid, &m, out var s));
            return Math.Sqrt(s);
        }
    }

    /// <summary>Stored weights in (row, col) order within each 8×64 tile, tiles in row-major order.</summary>
    public IEnumerable<ActiveWeight> EnumerateActive(int chunk = 8192)
    {
        if (chunk <= 0) throw new ArgumentOutOfRangeException(nameof(chunk));
        return Enumerate(chunk);
    }

    IWeightCursor IModuleSource.OpenWeights() => OpenCursor();
    ITileCursor IModuleSource.OpenTiles() => OpenTileCursor();

    /// <summary>A cursor over the stored weights that fills caller buffers (see <see cref="ActiveWeightCursor"/>).</summary>
    public ActiveWeightCursor OpenCursor()
    {
        using (Adapter.ReadScope(this))
        {
            Status.Check(Hs.hs_cursor_create(Adapter.Grid, Native, out var cursor));
            return new ActiveWeightCursor(this, cursor);
        }
    }

    /// <summary>A cursor over the stored 8×64 tiles that fills caller buffers (see <see cref="TileCursor"/>).</summary>
    public TileCursor OpenTileCursor()
    {
        using (Adapter.ReadScope(this))
        {
            Status.Check(Hs.hs_tile_cursor_create(Adapter.Grid, Native, out var cursor));
            return new TileCursor(this, cursor);
        }
    }

    /// <summary>
    /// Reads whole tiles: values holds 512 floats per tile, row-major 8×64 (values[t*512 + r*64 + c] =
    /// W[tileRows[t]*8 + r, tileCols[t]*64 + c]); a tile that is not stored reads as zeros, as do inactive weights
    /// and the padding of edge tiles.
    /// </summary>
    public void GetTiles(ReadOnlySpan<int> tileRows, ReadOnlySpan<int> tileCols, Span<float> values)
    {
        TileChecks.CheckLengths(tileRows.Length, tileCols.Length, values.Length);
        using var scope = Adapter.ReadScope(this);
        fixed (int* r = tileRows) fixed (int* c = tileCols) fixed (float* v = values)
            Status.Check(Hs.hs_grid_get_tiles(Adapter.Grid, Native, r, c, v, tileRows.Length));
    }

    /// <summary>
    /// Replaces whole tiles (layout as <see cref="GetTiles"/>): nonzero values become stored weights, exactly-zero ones
    /// are not stored, and a tile of zeros is removed. A tile listed twice: the later one wins. Coordinates must be
    /// tiles of the shape, values finite, and the padding of edge tiles 0; one bad tile changes nothing.
    /// </summary>
    public void SetTiles(ReadOnlySpan<int> tileRows, ReadOnlySpan<int> tileCols, ReadOnlySpan<float> values)
    {
        TileChecks.CheckLengths(tileRows.Length, tileCols.Length, values.Length);
        using var scope = Adapter.WriteScope(this);
        fixed (int* r = tileRows) fixed (int* c = tileCols) fixed (float* v = values)
            Status.Check(Hs.hs_grid_set_tiles(Adapter.Grid, Native, r, c, v, tileRows.Length));
    }

    /// <summary>
    /// Adds whole tiles elementwise (layout and checks as <see cref="SetTiles"/>), creating tiles where none is stored:
    /// exactly <see cref="AddMany"/> of the nonzero addends, so a zero addend changes nothing and a tile listed twice is
    /// added twice. A sum that would overflow float32 refuses the whole call before anything changes.
    /// </summary>
    public void AddTiles(ReadOnlySpan<int> tileRows, ReadOnlySpan<int> tileCols, ReadOnlySpan<float> values)
    {
        TileChecks.CheckLengths(tileRows.Length, tileCols.Length, values.Length);
        using var scope = Adapter.WriteScope(this);
        fixed (int* r = tileRows) fixed (int* c = tileCols) fixed (float* v = values)
            Status.Check(Hs.hs_grid_add_tiles(Adapter.Grid, Native, r, c, v, tileRows.Length));
    }

    private IEnumerable<ActiveWeight> Enumerate(int chunk)
    {
        var rows = new int[chunk];
        var cols = new int[chunk];
        var values = new float[chunk];
        Interop.Handles.CursorHandle cursor;
        using (Adapter.ReadScope(this))
            Status.Check(Hs.hs_cursor_create(Adapter.Grid, Native, out cursor));
        using (cursor)
        {
            while (true)
            {
                long n = ReadChunk(cursor, rows, cols, values);
                if (n == 0) yield break;
                for (int i = 0; i < n; i++) yield return new ActiveWeight(Name, rows[i], cols[i], values[i]);
            }
        }
    }

    private long ReadChunk(Interop.Handles.CursorHandle cursor, int[] rows, int[] cols, float[] values)
    {
        using var scope = Adapter.ReadScope(this);
        fixed (int* r = rows) fixed (int* c = cols) fixed (float* v = values)
        {
            Status.Check(Hs.hs_cursor_next(cursor, r, c, v, rows.Length, out var n));
            return n;
        }
    }

    /// <summary>
    /// Every stored weight as three arrays (tile order: row-major inside each 8×64 tile, tiles row-major), read in
    /// large chunks under one read lock so the arrays are one consistent state.
    /// </summary>
    public (int[] Rows, int[] Cols, float[] Values) ReadActive()
    {
        using var scope = Adapter.ReadScope(this);
        var m = Native;
        Status.Check(Hs.hs_grid_active_count(Adapter.Grid, &m, out var count));
        var rows = new int[count];
        var cols = new int[count];
        var values = new float[count];
        Status.Check(Hs.hs_cursor_create(Adapter.Grid, Native, out var cursor));
        using (cursor)
        {
            long at = 0;
            while (at < count)
            {
                fixed (int* r = &rows[at]) fixed (int* c = &cols[at]) fixed (float* v = &values[at])
                {
                    Status.Check(Hs.hs_cursor_next(cursor, r, c, v, count - at, out var n));
                    if (n == 0) break;
                    at += n;
                }
            }
            if (at != count) throw new InvalidOperationException($"module '{Name}': cursor gave {at} of {count} weights");
        }
        return (rows, cols, values);
    }

    /// <summary>Removes stored weights with |w| ≤ tolerance; returns how many were removed.</summary>
    public long Prune(float tolerance)
    {
        using var scope = Adapter.WriteScope(this);
        Status.Check(Hs.hs_grid_prune(Adapter.Grid, Native, tolerance, out var removed));
        return removed;
    }

    /// <summary>
    /// Keeps round(fraction × Rows × Cols) weights — the largest by magnitude, or whole highest-energy 8×64 tiles —
    /// and returns the retained energy ‖ΔW_kept‖_F / ‖ΔW‖_F (1 when the module was empty).
    /// </summary>
    public double KeepTopFraction(double fraction, SparsityStructure structure = SparsityStructure.Tile)
    {
        var (kept, total) = KeepTopCore(fraction, structure);
        return total == 0 ? 1.0 : Math.Sqrt(kept / total);
    }

    internal (double Kept, double Total) KeepTopCore(double fraction, SparsityStructure structure)
    {
        if (!(fraction >= 0 && fraction <= 1)) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "fraction must be in [0, 1]");
        if (!Enum.IsDefined(structure)) throw new ArgumentOutOfRangeException(nameof(structure));
        long k = (long)Math.Round(fraction * TotalWeights);
        using var scope = Adapter.WriteScope(this);
        Status.Check(Hs.hs_grid_keep_top(Adapter.Grid, Native, k, (int)structure, out var kept, out var total));
        return (kept, total);
    }

    /// <summary>this += scale × other, on effective deltas (each side's <see cref="Scale"/> is honoured).</summary>
    public void MergeFrom(AdapterModule other, float scale = 1f)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Rows != Rows || other.Cols != Cols)
            throw new ArgumentException($"cannot merge module '{other.Name}' ({other.Rows}x{other.Cols}) into '{Name}' ({Rows}x{Cols}): shapes differ");
        Adapter.MergeModule(this, other, scale);
    }

    /// <summary>Replaces the stored weights with the entries of a dense row-major matrix where |w| &gt; tolerance.</summary>
    public void FromDense(ReadOnlySpan<float> dense, float tolerance = 0f)
    {
        if (dense.Length != TotalWeights)
            throw new ArgumentException($"dense matrix has {dense.Length} values; module '{Name}' is {Rows}x{Cols} = {TotalWeights}");
        using var scope = Adapter.WriteScope(this);
        fixed (float* d = dense) Status.Check(Hs.hs_grid_from_dense(Adapter.Grid, Native, d, tolerance));
    }

    /// <summary>Writes the stored weights (× Scale when <paramref name="applyScale"/>) into a dense row-major buffer.</summary>
    public void ToDense(Span<float> dense, bool applyScale = false)
    {
        if (dense.Length != TotalWeights)
            throw new ArgumentException($"dense buffer has {dense.Length} values; module '{Name}' is {Rows}x{Cols} = {TotalWeights}");
        float scale;
        using (Adapter.ReadScope(this))
        {
            scale = _scale;
            fixed (float* d = dense) Status.Check(Hs.hs_grid_to_dense(Adapter.Grid, Native, d));
        }
        if (applyScale && scale != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(dense, scale, dense);
    }

    public float[] ToDense(bool applyScale = false)
    {
        var dense = new float[TileMapping.DenseLength(Rows, Cols, $"module '{Name}'")];
        ToDense(dense, applyScale);
        return dense;
    }

    /// <summary>Removes every stored weight of this module.</summary>
    public void Clear()
    {
        using var scope = Adapter.WriteScope(this);
        Status.Check(Hs.hs_grid_clear_module(Adapter.Grid, Native));
    }

    internal ModuleInfo Describe(long active) => new(Name, Layer, Rows, Cols, _scale, SlotBase, active) { TileCount = TileCount };

    private static void CheckLengths(int rows, int cols, int values)
    {
        if (rows != cols || rows != values)
            throw new ArgumentException($"batch spans differ in length: rows {rows}, cols {cols}, values {values}");
    }

    public override string ToString() => $"{Name} [{Rows}x{Cols}]";
}

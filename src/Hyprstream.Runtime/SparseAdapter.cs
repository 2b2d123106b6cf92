using Hyprstream.Interop;
using Hyprstream.Interop.Handles;
using Hyprstream.Interop.OpenVdb;

namespace Hyprstream.Runtime;

/// <summary>
/// A named sparse adapter: the ΔW of some linear layers of a base model, all packed into one OpenVDB FloatGrid
/// (mapping "hs.tile8x64"). Safe for concurrent use: reads share a lock, writes take it alone.
/// </summary>
public sealed unsafe class SparseAdapter : IDisposable
{
    private static long s_nextId;
    private readonly long _id = Interlocked.Increment(ref s_nextId);
    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.SupportsRecursion);
    private readonly GridHandle _grid;
    private string _name;
    private string? _baseModel;
    private long _nextSlot;
    private bool _disposed;

    public SparseAdapter(string name, string? baseModel = null)
        : this(CreateGrid(), AdapterNames.ValidateAdapter(name), baseModel) { }

    private SparseAdapter(GridHandle grid, string name, string? baseModel)
    {
        _grid = grid;
        _name = name;
        _baseModel = baseModel;
    }

    private static GridHandle CreateGrid()
    {
        Status.Check(Hs.hs_grid_create(out var g));
        return g;
    }

    public string Name
    {
        get => _name;
        set { var v = AdapterNames.ValidateAdapter(value, nameof(value)); using (WriteScope()) _name = v; }
    }

    /// <summary>Hugging Face id (or path) of the model the adapter was trained for.</summary>
    public string? BaseModel
    {
        get => _baseModel;
        set { using (WriteScope()) _baseModel = value; }
    }

    /// <summary>Where the adapter came from (e.g. source=peft, rank=16, alpha=32, density=0.01, structure=tile).</summary>
    public IDictionary<string, string> Provenance { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Free-form string metadata saved with the adapter.</summary>
    public IDictionary<string, string> Metadata { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    public ModuleCollection Modules { get; } = new();

    internal GridHandle Grid => _grid;

    /// <summary>Adds an empty module of shape rows × cols (out × in).</summary>
    public AdapterModule AddModule(string name, int rows, int cols, float scale = 1f, int? layer = null)
    {
        AdapterNames.ValidateModule(name);
        if (rows <= 0 || cols <= 0) throw new ArgumentOutOfRangeException(nameof(rows), $"module shape must be positive, got {rows}x{cols}");
        AdapterLimits.CheckShape(name, rows, cols);
        if (!float.IsFinite(scale)) throw new ArgumentException("scale must be finite", nameof(scale));
        using var scope = WriteScope();
        if (Modules.Contains(name)) throw new ArgumentException($"adapter '{_name}' already has a module named '{name}'", nameof(name));
        long tiles = TileMapping.TileCount(rows, cols);
        AdapterLimits.CheckTiles(_name, name, DeclaredTiles, tiles);
        // Slots of removed modules are not reused in place; when the slot space runs out, the live modules are packed
        // again, so whether a module fits depends only on the modules the adapter has now (a replay of the same
        // changes from any earlier state agrees with the live adapter).
        if (_nextSlot + tiles > AdapterLimits.MaxTilesPerAdapter) Compact();
        var m = new AdapterModule(this, name, layer ?? AdapterNames.LayerOf(name), rows, cols, scale, _nextSlot);
        _nextSlot += tiles;
        Modules.Add(m);
        return m;
    }

    /// <summary>8×64 tiles the modules declare together (see <see cref="AdapterLimits.MaxTilesPerAdapter"/>).</summary>
    public long DeclaredTiles { get { using var scope = ReadScope(); return Modules.Sum(m => TileMapping.TileCount(m.Rows, m.Cols)); } }

    /// <summary>Moves every module to consecutive slots from 0 (weights move with them); the caller holds the write lock.</summary>
    private void Compact()
    {
        var moved = Modules.Select(m => (Module: m, Weights: m.ReadActive())).ToList();
        foreach (var (m, _) in moved) Status.Check(Hs.hs_grid_clear_module(_grid, m.Native));
        _nextSlot = 0;
        foreach (var (m, w) in moved)
        {
            m.SlotBase = _nextSlot;
            _nextSlot += TileMapping.TileCount(m.Rows, m.Cols);
            if (w.Values.Length > 0) m.SetMany(w.Rows, w.Cols, w.Values);
        }
    }

    /// <summary>Adds a module and fills it from a dense row-major matrix (entries with |w| ≤ tolerance are not stored).</summary>
    public AdapterModule AddModuleFromDense(string name, int rows, int cols, ReadOnlySpan<float> dense, float tolerance = 0f, float scale = 1f)
    {
        if (dense.Length != (long)rows * cols) throw new ArgumentException($"dense matrix has {dense.Length} values, expected {rows}x{cols}");
        var m = AddModule(name, rows, cols, scale);
        try { m.FromDense(dense, tolerance); }
        catch { RemoveModule(name); throw; }
        return m;
    }

    /// <summary>Removes a module and its weights; false when there is none of that name.</summary>
    public bool RemoveModule(string name)
    {
        using var scope = WriteScope();
        if (!Modules.TryGet(name, out var m)) return false;
        Status.Check(Hs.hs_grid_clear_module(_grid, m.Native));
        Modules.Remove(name);
        m.Removed = true;
        return true;
    }

    public long ActiveCount
    {
        get
        {
            using var scope = ReadScope();
            Status.Check(Hs.hs_grid_active_count(_grid, null, out var n));
            return n;
        }
    }

    /// <summary>Bytes the grid occupies in memory (OpenVDB's own accounting).</summary>
    public long MemoryBytes
    {
        get
        {
            using var scope = ReadScope();
            Status.Check(Hs.hs_grid_memory_bytes(_grid, out var n));
            return n;
        }
    }

    public long TotalWeights { get { using var scope = ReadScope(); return Modules.Sum(m => m.TotalWeights); } }

    /// <summary>Fraction of the modules' weights that are not stored (1 − density).</summary>
    public double Sparsity
    {
        get
        {
            long total = TotalWeights;
            return total == 0 ? 1.0 : 1.0 - (double)ActiveCount / total;
        }
    }

    /// <summary>Every stored weight, module by module.</summary>
    public IEnumerable<ActiveWeight> EnumerateActive()
    {
        AdapterModule[] modules;
        using (ReadScope()) modules = Modules.ToArray();
        foreach (var m in modules)
            foreach (var w in m.EnumerateActive())
                yield return w;
    }

    /// <summary>Prunes every module; returns the number of weights removed.</summary>
    public long Prune(float tolerance)
    {
        using var scope = WriteScope();
        return Modules.Sum(m => m.Prune(tolerance));
    }

    /// <summary>Keeps the given fraction of every module's weights; returns the adapter's retained energy ratio.</summary>
    public double KeepTopFraction(double fraction, SparsityStructure structure = SparsityStructure.Tile)
    {
        using var scope = WriteScope();
        double kept = 0, total = 0;
        foreach (var m in Modules)
        {
            var (k, t) = m.KeepTopCore(fraction, structure);
            kept += k;
            total += t;
        }
        return total == 0 ? 1.0 : Math.Sqrt(kept / total);
    }

    /// <summary>
    /// this += scale × other, module by module (matched by name; modules only in <paramref name="other"/> are added
    /// with its shape and scale). Shapes are checked for every module before anything changes.
    /// </summary>
    public void MergeFrom(SparseAdapter other, float scale = 1f)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (!float.IsFinite(scale)) throw new ArgumentException("scale must be finite", nameof(scale));
        using var locks = LockPair(this, other);
        foreach (var src in other.Modules)
            if (Modules.TryGet(src.Name, out var dst) && (dst.Rows != src.Rows || dst.Cols != src.Cols))
                throw new ArgumentException(
                    $"cannot merge '{other.Name}' into '{Name}': module '{src.Name}' is {src.Rows}x{src.Cols} there and {dst.Rows}x{dst.Cols} here");
        foreach (var src in other.Modules)
        {
            if (!Modules.TryGet(src.Name, out var dst)) dst = AddModule(src.Name, src.Rows, src.Cols, src.Scale, src.Layer);
            MergeModule(dst, src, scale);
        }
    }

    internal void MergeModule(AdapterModule dst, AdapterModule src, float scale)
    {
        using var locks = LockPair(this, src.Adapter);
        CheckLive(dst);
        src.Adapter.CheckLive(src);
        float s = MergeFactor(_name, dst.Name, dst.Scale, src.Scale, scale);
        if (ReferenceEquals(dst, src))
        {
            // a += s·a: merge against a frozen copy of the grid so the source does not move under us.
            using var clone = CloneGrid();
            Status.Check(Hs.hs_grid_merge(_grid, dst.Native, clone, src.Native, s));
            return;
        }
        Status.Check(Hs.hs_grid_merge(_grid, dst.Native, src.Adapter._grid, src.Native, s));
    }

    /// <summary>
    /// What a merge multiplies the source's stored weights by so that effective deltas add up:
    /// dst.scale · w' = dst.scale · w + scale · src.scale · v, i.e. w' = w + (scale · src.scale / dst.scale) · v.
    /// </summary>
    internal static float MergeFactor(string adapter, string module, float dstScale, float srcScale, float scale)
    {
        if (dstScale == 0f) throw new InvalidOperationException($"module '{module}' of '{adapter}' has scale 0; set a scale before merging into it");
        return scale * srcScale / dstScale;
    }

    /// <summary>A new adapter Σ wᵢ·aᵢ over effective deltas (result modules have scale 1).</summary>
    public static SparseAdapter Fuse(string name, IReadOnlyList<SparseAdapter> adapters, IReadOnlyList<float> weights)
    {
        ArgumentNullException.ThrowIfNull(adapters);
        ArgumentNullException.ThrowIfNull(weights);
        if (adapters.Count == 0) throw new ArgumentException("fuse needs at least one adapter", nameof(adapters));
        if (adapters.Count != weights.Count) throw new ArgumentException($"{adapters.Count} adapters but {weights.Count} weights", nameof(weights));
        var shapes = new Dictionary<string, (int Rows, int Cols)>(StringComparer.Ordinal);
        foreach (var a in adapters)
            foreach (var m in a.Modules)
                if (shapes.TryGetValue(m.Name, out var s) && (s.Rows != m.Rows || s.Cols != m.Cols))
                    throw new ArgumentException($"module '{m.Name}' is {s.Rows}x{s.Cols} in one adapter and {m.Rows}x{m.Cols} in '{a.Name}'");
                else shapes[m.Name] = (m.Rows, m.Cols);
        var fused = new SparseAdapter(name, adapters[0].BaseModel);
        try
        {
            foreach (var a in adapters)
                foreach (var m in a.Modules)
                    if (!fused.Modules.Contains(m.Name)) fused.AddModule(m.Name, m.Rows, m.Cols, 1f, m.Layer);
            for (int i = 0; i < adapters.Count; i++)
                fused.MergeFrom(adapters[i], weights[i]);
            fused.Provenance["source"] = "fuse";
            fused.Provenance["inputs"] = string.Join(",", adapters.Select((a, i) => $"{a.Name}*{weights[i]:R}"));
            return fused;
        }
        catch
        {
            fused.Dispose();
            throw;
        }
    }

    /// <summary>A deep copy (weights, modules, metadata) under a new or the same name.</summary>
    public SparseAdapter Clone(string? name = null)
    {
        using var scope = ReadScope();
        var copy = new SparseAdapter(CloneGrid(), AdapterNames.ValidateAdapter(name ?? _name), _baseModel) { _nextSlot = _nextSlot };
        foreach (var m in Modules) copy.Modules.Add(new AdapterModule(copy, m.Name, m.Layer, m.Rows, m.Cols, m.Scale, m.SlotBase));
        foreach (var (k, v) in Provenance) copy.Provenance[k] = v;
        foreach (var (k, v) in Metadata) copy.Metadata[k] = v;
        return copy;
    }

    /// <summary>Saves atomically (temp file + fsync + rename): a crash mid-save leaves the previous file whole.</summary>
    public void Save(string path, SaveOptions? options = null) => AdapterFile.Save(path, [this], options);

    /// <summary>Loads the adapter in <paramref name="path"/> (or the one named <paramref name="name"/> if it holds several).</summary>
    public static SparseAdapter Load(string path, string? name = null) => AdapterFile.Load(path, name);

    /// <summary>Describes the adapter as its file metadata would.</summary>
    public AdapterInfo Describe()
    {
        using var scope = ReadScope();
        var modules = Modules.Select(m =>
        {
            var n = m.Native;
            Status.Check(Hs.hs_grid_active_count(_grid, &n, out var active));
            return m.Describe(active);
        }).ToList();
        return new AdapterInfo(_name, _baseModel, new Dictionary<string, string>(Provenance), new Dictionary<string, string>(Metadata),
            modules, TileMapping.Name, TileMapping.Version, ActiveCount, MemoryBytes, false);
    }

    /// <summary>Builds an adapter around a grid loaded from a file, with its validated metadata.</summary>
    internal static SparseAdapter FromLoaded(GridHandle grid, AdapterInfo info)
    {
        var a = new SparseAdapter(grid, info.Name, info.BaseModel);
        foreach (var m in info.Modules)
        {
            a.Modules.Add(new AdapterModule(a, m.Name, m.Layer, m.Rows, m.Cols, m.Scale, m.SlotBase));
            a._nextSlot = Math.Max(a._nextSlot, m.SlotBase + TileMapping.TileCount(m.Rows, m.Cols));
        }
        foreach (var (k, v) in info.Provenance) a.Provenance[k] = v;
        foreach (var (k, v) in info.Metadata) a.Metadata[k] = v;
        return a;
    }

    /// <summary>A 64-bit hash of the stored weights (positions and value bits): equal contents hash equal.</summary>
    public long ContentHash()
    {
        using var scope = ReadScope();
        Status.Check(Hs.hs_grid_content_hash(_grid, 0, out var h));
        return h;
    }

    /// <summary>Active voxels that no module's tiles and shape cover (0 for anything this API wrote).</summary>
    internal long CountOutsideModules()
    {
        using var scope = ReadScope();
        var mods = Modules.Select(m => m.Native).ToArray();
        fixed (HsModule* p = mods)
        {
            Status.Check(Hs.hs_grid_count_outside(_grid, p, mods.Length, out var outside));
            return outside;
        }
    }

    private GridHandle CloneGrid()
    {
        Status.Check(Hs.hs_grid_clone(_grid, out var g));
        return g;
    }

    public void Dispose()
    {
        _lock.EnterWriteLock();
        try
        {
            if (_disposed) return;
            _disposed = true;
            _grid.Dispose();
        }
        finally { _lock.ExitWriteLock(); }
    }

    public override string ToString() => $"{Name} ({Modules.Count} modules)";

    // ---- locking ----

    internal Scope ReadScope(AdapterModule? module = null) => Enter(write: false, module);
    internal Scope WriteScope(AdapterModule? module = null) => Enter(write: true, module);

    private Scope Enter(bool write, AdapterModule? module)
    {
        if (write) _lock.EnterWriteLock(); else _lock.EnterReadLock();
        var scope = new Scope(_lock, write);
        try { CheckLive(module); }
        catch { scope.Dispose(); throw; }
        return scope;
    }

    private void CheckLive(AdapterModule? module)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (module is { Removed: true }) throw new InvalidOperationException($"module '{module.Name}' was removed from adapter '{_name}'");
    }

    /// <summary>Write lock on <paramref name="dst"/>, read lock on <paramref name="src"/>, taken in a global order.</summary>
    private static PairScope LockPair(SparseAdapter dst, SparseAdapter src)
    {
        if (ReferenceEquals(dst, src)) return new PairScope(dst.WriteScope(), default);
        if (dst._id < src._id)
        {
            var a = dst.WriteScope();
            try { return new PairScope(a, src.ReadScope()); } catch { a.Dispose(); throw; }
        }
        var b = src.ReadScope();
        try { return new PairScope(dst.WriteScope(), b); } catch { b.Dispose(); throw; }
    }

    internal readonly struct Scope(ReaderWriterLockSlim? rw, bool write) : IDisposable
    {
        public void Dispose()
        {
            if (rw == null) return;
            if (write) rw.ExitWriteLock(); else rw.ExitReadLock();
        }
    }

    private readonly struct PairScope(Scope first, Scope second) : IDisposable
    {
        public void Dispose()
        {
            second.Dispose();
            first.Dispose();
        }
    }
}

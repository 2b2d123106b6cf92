using System.Runtime.InteropServices;
using Hyprstream.Interop;
using Hyprstream.Interop.Handles;
using Hyprstream.Interop.OpenVdb;

namespace Hyprstream.Runtime.Snapshots;

/// <summary>
/// An immutable NanoVDB copy of an adapter, for inference: one position-independent buffer (the native NanoVDB grid,
/// float32 or Fp16) that the CPU backend reads in place and the CUDA backend uploads as is, plus the module table
/// (NanoVDB carries no metadata). Leaf i of the breadth-first grid is one dense 8×64 tile, row-major; its origin gives
/// the tile slot (inverse of <see cref="TileMapping.SlotOrigin"/>) and so the module and tile. Safe to share
/// between threads; disposing it while a kernel runs waits for nothing but is safe (the buffer is ref-counted).
/// </summary>
public sealed unsafe class AdapterSnapshot : IDisposable
{
    private readonly NanoHandle _nano;
    private readonly HsNanoInfo _info;
    private readonly SnapshotModule[] _modules;
    private readonly Dictionary<string, SnapshotModule> _byName = new(StringComparer.Ordinal);
    // Slot-ordered leaves: tile slot and NanoVDB leaf index; a module's leaves are one contiguous range.
    private readonly long[] _slots;
    private readonly int[] _leafIndex;
    // Per slot-ordered position: the tile's top-left (row, col) in its module, so kernels never divide.
    private int[] _row0 = [], _col0 = [];
    // Starts of runs of equal tile rows (a module's run range is RunStart .. RunStart+RunCount; one sentinel each).
    private int[] _runs = [];

    private AdapterSnapshot(NanoHandle nano, string name, string? baseModel, List<SnapshotModule> modules, string source,
        IReadOnlyDictionary<string, string>? provenance = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        _nano = nano;
        Name = name;
        BaseModel = baseModel;
        Provenance = provenance ?? new Dictionary<string, string>();
        Metadata = metadata ?? new Dictionary<string, string>();
        Status.Check(Hs.hs_nano_get_info(nano, out _info));
        Status.Check(Hs.hs_nano_data(nano, out var data, out _));
        Data = (byte*)data;
        _modules = modules.OrderBy(m => m.SlotBase).ToArray();
        foreach (var m in _modules)
        {
            if (!_byName.TryAdd(m.Name, m)) throw new InvalidDataException($"{source}: module '{m.Name}' is listed twice");
            m.Snapshot = this;
        }
        for (int i = 1; i < _modules.Length; i++)
            if (_modules[i].SlotBase < _modules[i - 1].SlotBase + _modules[i - 1].TileCount)
                throw new InvalidDataException($"{source}: modules '{_modules[i - 1].Name}' and '{_modules[i].Name}' overlap");
        (_slots, _leafIndex) = IndexLeaves(source);
        IndexTiles();
        Modules = modules.Select(m => _byName[m.Name]).ToArray();
    }

    public string Name { get; }
    public string? BaseModel { get; }
    /// <summary>The adapter's provenance and metadata when the snapshot was made from an adapter (empty for files written before they were kept).</summary>
    public IReadOnlyDictionary<string, string> Provenance { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>True when the buffer is a mapped file (<see cref="Map"/>), not memory of its own.</summary>
    public bool IsMapped { get; private init; }
    /// <summary>Modules in the order of the source adapter (or file).</summary>
    public IReadOnlyList<SnapshotModule> Modules { get; }
    public SnapshotPrecision Precision => (SnapshotPrecision)_info.ValueType;
    /// <summary>Size of the NanoVDB buffer.</summary>
    public long ByteSize => _info.Bytes;
    public long LeafCount => _info.LeafCount;
    public long ActiveCount => _info.ActiveVoxels;
    public bool IsDisposed { get; private set; }

    public SnapshotModule this[string module] =>
        _byName.TryGetValue(module, out var m) ? m : throw new KeyNotFoundException($"snapshot '{Name}' has no module named '{module}'");

    /// <summary>Converts the adapter's current contents (float32 or Fp16); later changes to the adapter are not seen.</summary>
    public static AdapterSnapshot Create(SparseAdapter adapter, SnapshotPrecision precision = SnapshotPrecision.Float32)
    {
        ArgumentNullException.ThrowIfNull(adapter);
        if (precision is not (SnapshotPrecision.Float32 or SnapshotPrecision.Fp16))
            throw new ArgumentOutOfRangeException(nameof(precision), precision, "unknown precision");
        NanoHandle nano;
        List<SnapshotModule> modules;
        string name;
        string? baseModel;
        Dictionary<string, string> provenance, metadata;
        using (adapter.ReadScope())
        {
            Status.Check(Hs.hs_nano_from_grid(adapter.Grid, (int)precision, out nano));
            modules = adapter.Modules.Select(m => new SnapshotModule(m.Name, m.Rows, m.Cols, m.Scale, m.SlotBase, m.Layer)).ToList();
            name = adapter.Name;
            baseModel = adapter.BaseModel;
            provenance = new Dictionary<string, string>(adapter.Provenance, StringComparer.Ordinal);
            metadata = new Dictionary<string, string>(adapter.Metadata, StringComparer.Ordinal);
        }
        return Construct(nano, name, baseModel, modules, $"snapshot of '{name}'", provenance, metadata);
    }

    /// <summary>Reads a snapshot file written by <see cref="Save"/> (checked: header, CRC32C, NanoVDB structure, table).</summary>
    public static AdapterSnapshot Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Status.Check(Hs.hs_nano_read(Path.GetFullPath(path), out var nano));
        return FromFile(nano, path, mapped: false);
    }

    /// <summary>
    /// Maps a snapshot file written by <see cref="Save"/> instead of reading it: the kernels, cursors and the GPU
    /// upload read the file's pages in place (nothing is decoded; pages load on first touch). The header, sizes, NanoVDB
    /// structure and module table are always checked; the CRC32C (which reads every page) only with
    /// <paramref name="verifyChecksum"/>: ask for it for files from elsewhere. The file must only ever be replaced
    /// by rename while mapped, never rewritten in place.
    /// </summary>
    public static AdapterSnapshot Map(string path, bool verifyChecksum = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Status.Check(Hs.hs_nano_map(Path.GetFullPath(path), verifyChecksum ? 1 : 0, out var nano));
        return FromFile(nano, path, mapped: true);
    }

    private static AdapterSnapshot FromFile(NanoHandle nano, string path, bool mapped)
    {
        try
        {
            var t = SnapshotTable.Read(Hs.NanoTable(nano), $"'{path}'");
            return new AdapterSnapshot(nano, t.Name, t.BaseModel, t.Modules, $"'{path}'", t.Provenance, t.Metadata) { IsMapped = mapped };
        }
        catch { nano.Dispose(); throw; }
    }

    /// <summary>Adopts raw NanoVDB grid bytes made elsewhere (validated natively) with the given module table.</summary>
    public static AdapterSnapshot FromNanoVdb(ReadOnlySpan<byte> grid, string name, IEnumerable<(string Name, int Rows, int Cols, float Scale, long SlotBase)> modules)
    {
        NanoHandle nano;
        fixed (byte* p = grid) Status.Check(Hs.hs_nano_from_buffer(p, grid.Length, out nano));
        return Construct(nano, name, null, modules.Select(m => new SnapshotModule(m.Name, m.Rows, m.Cols, m.Scale, m.SlotBase)).ToList(), "the buffer");
    }

    /// <summary>An independent copy of this snapshot (the buffer copied, checked natively; table and metadata kept): one its owner may dispose at will.</summary>
    public AdapterSnapshot Copy()
    {
        using var use = Use();
        NanoHandle nano;
        Status.Check(Hs.hs_nano_from_buffer(Data, _info.Bytes, out nano));
        return Construct(nano, Name, BaseModel, Modules.Select(m => new SnapshotModule(m.Name, m.Rows, m.Cols, m.Scale, m.SlotBase, m.Layer)).ToList(),
            $"a copy of snapshot '{Name}'", Provenance, Metadata);
    }

    private static AdapterSnapshot Construct(NanoHandle nano, string name, string? baseModel, List<SnapshotModule> modules, string source,
        IReadOnlyDictionary<string, string>? provenance = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        try { return new AdapterSnapshot(nano, name, baseModel, modules, source, provenance, metadata); }
        catch { nano.Dispose(); throw; }
    }

    /// <summary>Writes the snapshot file atomically: header "HSNVDB01", the module table (JSON), the raw NanoVDB grid.</summary>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var use = Use();
        Status.Check(Hs.hs_nano_write(_nano, Path.GetFullPath(path), SnapshotTable.Write(Name, BaseModel, Modules, Provenance, Metadata)));
    }

    /// <summary>
    /// A writable adapter with this snapshot's contents (float32 snapshots only), made by copying whole leaves and
    /// their active masks: how a read-only adapter is promoted when it is written to.
    /// </summary>
    public SparseAdapter ToAdapter(string? name = null)
    {
        using var use = Use();
        Status.Check(Hs.hs_grid_from_nano(_nano, out var grid));
        return SparseAdapter.FromLoaded(grid, Describe() with { Name = name ?? Name });
    }

    /// <summary>The adapter as <see cref="SparseAdapter.Describe"/> would describe it (active counts from the leaves' masks; MemoryBytes is the snapshot's size).</summary>
    public AdapterInfo Describe()
    {
        using var use = Use();
        var modules = Modules.Select(m => new ModuleInfo(m.Name, m.Layer, m.Rows, m.Cols, m.Scale, m.SlotBase, ActiveCountOf(m)) { TileCount = m.LeafCount }).ToList();
        return new AdapterInfo(Name, BaseModel, new Dictionary<string, string>(Provenance), new Dictionary<string, string>(Metadata),
            modules, TileMapping.Name, TileMapping.Version, modules.Sum(m => m.ActiveCount), ByteSize, false);
    }

    /// <summary>A copy of the buffer (what the GPU gets).</summary>
    public byte[] ToArray()
    {
        using var use = Use();
        return new ReadOnlySpan<byte>(Data, checked((int)_info.Bytes)).ToArray();
    }

    /// <summary>The module's stored weights as a dense row-major matrix (× Scale when <paramref name="applyScale"/>).</summary>
    public float[] ToDense(string module, bool applyScale = false)
    {
        using var use = Use();
        var m = this[module];
        var dense = new float[TileMapping.DenseLength(m.Rows, m.Cols, $"module '{module}' of snapshot '{Name}'")];
        Span<float> tile = stackalloc float[TileMapping.TileSize];
        float s = applyScale ? m.Scale : 1f;
        for (int i = m.LeafStart; i < m.LeafStart + m.LeafCount; i++)
        {
            ReadLeaf(i, tile);
            var (row0, col0) = TileCorner(m, i);
            int nr = Math.Min(8, m.Rows - row0), nc = Math.Min(64, m.Cols - col0);
            for (int r = 0; r < nr; r++)
                for (int c = 0; c < nc; c++)
                    dense[(long)(row0 + r) * m.Cols + col0 + c] = tile[r * 64 + c] * s;
        }
        return dense;
    }

    // ---- what the backends read ----

    internal byte* Data { get; }
    internal HsNanoInfo Info => _info;
    internal ReadOnlySpan<int> LeafIndices => _leafIndex;
    internal ReadOnlySpan<long> LeafSlots => _slots;

    /// <summary>Keeps the buffer alive for the duration of a kernel call.</summary>
    internal BufferLease Use()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        bool added = false;
        _nano.DangerousAddRef(ref added);
        return new BufferLease(_nano);
    }

    internal readonly struct BufferLease(NanoHandle handle) : IDisposable
    {
        public void Dispose() => handle.DangerousRelease();
    }

    /// <summary>Pointer to leaf <paramref name="position"/> of the slot-ordered leaf list.</summary>
    internal byte* Leaf(int position) => Data + _info.LeafOffset + (long)_leafIndex[position] * _info.LeafBytes;

    /// <summary>Float32 values of a leaf in place (null for Fp16 snapshots).</summary>
    internal float* FloatValues(int position) =>
        _info.ValueType == Hs.NanoFloat32 ? (float*)(Leaf(position) + _info.ValueOffset) : null;

    /// <summary>The 512 values of a leaf (decoding Fp16: code × quantum + minimum).</summary>
    internal void ReadLeaf(int position, Span<float> dst)
    {
        byte* leaf = Leaf(position);
        if (_info.ValueType == Hs.NanoFloat32)
        {
            new ReadOnlySpan<float>(leaf + _info.ValueOffset, TileMapping.TileSize).CopyTo(dst);
            return;
        }
        float min = *(float*)(leaf + 80), quantum = *(float*)(leaf + 84);
        ushort* code = (ushort*)(leaf + _info.ValueOffset);
        for (int i = 0; i < TileMapping.TileSize; i++) dst[i] = code[i] * quantum + min;
    }

    /// <summary>Top-left (row, col) of the tile stored at slot-ordered position <paramref name="position"/> of module m.</summary>
    internal (int Row0, int Col0) TileCorner(SnapshotModule m, int position) => (_row0[position], _col0[position]);

    /// <summary>Positions where m's runs of equal tile rows start, followed by the end of its last run.</summary>
    internal ReadOnlySpan<int> Runs(SnapshotModule m) => _runs.AsSpan(m.RunStart, m.RunCount + 1);

    private void IndexTiles()
    {
        _row0 = new int[_slots.Length];
        _col0 = new int[_slots.Length];
        var runs = new List<int>();
        foreach (var m in _modules)
        {
            m.RunStart = runs.Count;
            long tpr = m.TilesPerRow;
            int end = m.LeafStart + m.LeafCount;
            for (int i = m.LeafStart; i < end; i++)
            {
                long tile = _slots[i] - m.SlotBase;
                _row0[i] = (int)(tile / tpr) * TileMapping.TileRows;
                _col0[i] = (int)(tile % tpr) * TileMapping.TileCols;
                if (i == m.LeafStart || _row0[i] != _row0[i - 1]) runs.Add(i);
            }
            m.RunCount = runs.Count - m.RunStart;
            runs.Add(end);
        }
        _runs = runs.ToArray();
    }

    /// <summary>Stored weights of m: the active bits of its leaves' masks.</summary>
    internal long ActiveCountOf(SnapshotModule m)
    {
        using var use = Use();
        long active = 0;
        for (int i = m.LeafStart; i < m.LeafStart + m.LeafCount; i++)
        {
            ulong* mask = (ulong*)(Leaf(i) + 16);
            for (int w = 0; w < 8; w++) active += System.Numerics.BitOperations.PopCount(mask[w]);
        }
        return active;
    }

    internal float Get(SnapshotModule m, int row, int col)
    {
        if ((uint)row >= (uint)m.Rows || (uint)col >= (uint)m.Cols)
            throw new ArgumentOutOfRangeException(nameof(row), $"({row}, {col}) is outside module '{m.Name}' ({m.Rows}x{m.Cols})");
        using var use = Use();
        int i = FindTile(m, row, col);
        if (i < 0) return 0f;
        int n = (row & 7) * TileMapping.TileCols + (col & 63);
        if (FloatValues(i) is var v && v != null) return v[n];
        Span<float> tile = stackalloc float[TileMapping.TileSize];
        ReadLeaf(i, tile);
        return tile[n];
    }

    /// <summary>Slot-ordered position of the tile holding (row, col) of m, or −1 when that tile is not stored.</summary>
    internal int FindTile(SnapshotModule m, int row, int col)
    {
        long slot = m.SlotBase + (long)(row >> 3) * m.TilesPerRow + (col >> 6);
        int i = Array.BinarySearch(_slots, m.LeafStart, m.LeafCount, slot);
        return i >= 0 ? i : -1;
    }

    private (long[] Slots, int[] Leaves) IndexLeaves(string source)
    {
        long count = _info.LeafCount;
        if (count > int.MaxValue) throw new InvalidDataException($"{source}: {count} leaves is more than this build indexes");
        var slots = new long[count];
        var leaves = new int[count];
        var starts = _modules.Select(m => m.SlotBase).ToArray();
        // The origins come from the lower nodes (no leaf page is touched: a mapped file stays unread until used).
        var origins = new int[checked(count * 3)];
        if (count > 0) fixed (int* o = origins) Status.Check(Hs.hs_nano_leaf_origins(_nano, o, count));
        for (int i = 0; i < count; i++)
        {
            int x = origins[3 * i], y = origins[3 * i + 1], z = origins[3 * i + 2];
            if (x < 0 || y < 0 || z < 0)
                throw new InvalidDataException($"{source}: leaf {i} has origin ({x}, {y}, {z}), which is not a tile of the {TileMapping.Name} mapping");
            slots[i] = TileMapping.OriginSlot(x, y, z);
            if (TileMapping.SlotOrigin(slots[i]) != (x, y, z))
                throw new InvalidDataException($"{source}: leaf {i} has origin ({x}, {y}, {z}), which no tile slot maps to");
            leaves[i] = i;
        }
        Array.Sort(slots, leaves);
        int mi = 0;
        for (int i = 0; i < count; i++)
        {
            if (i > 0 && slots[i] == slots[i - 1]) throw new InvalidDataException($"{source}: tile slot {slots[i]} is stored twice");
            int k = Array.BinarySearch(starts, slots[i]);
            if (k < 0) k = ~k - 1;
            if (k < 0 || slots[i] >= _modules[k].SlotBase + _modules[k].TileCount)
                throw new InvalidDataException($"{source}: a stored tile (slot {slots[i]}) lies in no module of the table");
            mi = k;
            if (_modules[mi].LeafCount == 0) _modules[mi].LeafStart = i;
            _modules[mi].LeafCount++;
        }
        return (slots, leaves);
    }

    public void Dispose()
    {
        if (IsDisposed) return;
        IsDisposed = true;
        _nano.Dispose();
    }

    public override string ToString() => $"snapshot '{Name}' ({Precision}, {Modules.Count} modules, {LeafCount} tiles, {ByteSize} B)";
}

using Hyprstream.Interop;
using Hyprstream.Interop.Handles;
using Hyprstream.Interop.OpenVdb;

namespace Hyprstream.Runtime;

/// <summary>
/// Adapter .vdb files: one float grid per adapter, each carrying the adapter's metadata (see README, "File format").
/// Reading the module table never loads weights.
/// </summary>
public static class AdapterFile
{
    /// <summary>Metadata and module tables of every adapter in the file, without loading any weights.</summary>
    public static AdapterFileInfo ReadInfo(string path)
    {
        using var file = Open(path);
        Status.Check(Hs.hs_file_size(file, out var size));
        var adapters = new List<AdapterInfo>();
        var others = new List<string>();
        foreach (var (index, gridName, type) in Grids(file))
        {
            using var meta = GridMeta(file, index);
            if (AdapterFormat.LooksLikeAdapter(meta) && type == FloatGridType) adapters.Add(ReadAdapterInfo(meta, gridName, path));
            else others.Add(gridName);
        }
        return new AdapterFileInfo(path, size, adapters, others);
    }

    /// <summary>Writes one or more adapters into one file, atomically.</summary>
    public static void Save(string path, IReadOnlyList<SparseAdapter> adapters, SaveOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(adapters);
        if (adapters.Count == 0) throw new ArgumentException("nothing to save", nameof(adapters));
        options ??= SaveOptions.Default;
        var full = Path.GetFullPath(path);
        // Lock every adapter (in a stable order) so the grids and their metadata are saved as one consistent state.
        var ordered = adapters.Distinct().OrderBy(a => a.GetHashCode()).ToList();
        if (ordered.Count != adapters.Count) throw new ArgumentException("an adapter is listed twice", nameof(adapters));
        var scopes = new List<IDisposable>();
        try
        {
            foreach (var a in ordered) scopes.Add(a.WriteScope());
            foreach (var a in adapters)
            {
                var info = a.Describe();
                using var meta = new NativeMeta();
                AdapterFormat.Write(meta, info.Name, info.BaseModel, info.Provenance, info.Metadata, info.Modules);
                Status.Check(Hs.hs_grid_set_metadata(a.Grid, meta.Handle));
            }
            Hs.WriteFile(full, adapters.Select(a => a.Grid).ToList(), adapters.Select(a => a.Name).ToList(), null, options.NativeFlags);
        }
        finally
        {
            for (int i = scopes.Count - 1; i >= 0; i--) scopes[i].Dispose();
        }
    }

    /// <summary>Loads one adapter: the only one in the file, or the one named <paramref name="name"/>.</summary>
    public static SparseAdapter Load(string path, string? name = null)
    {
        using var file = Open(path);
        var grids = Grids(file).ToList();
        if (grids.Count == 0) throw new InvalidDataException($"'{path}' holds no grids");
        if (name != null)
        {
            var named = grids.FirstOrDefault(g => g.Name == name);
            if (named.Name == null) throw new KeyNotFoundException($"'{path}' holds no adapter named '{name}'");
            return LoadGrid(file, path, named, DescribeGrid(file, path, named));
        }
        var adapters = new List<((int Index, string Name, string Type) Grid, AdapterInfo Info)>();
        foreach (var g in grids)
            if (TryDescribeGrid(file, path, g) is { } info) adapters.Add((g, info));
        if (adapters.Count > 1)
            throw new ArgumentException($"'{path}' holds {adapters.Count} adapters ({string.Join(", ", adapters.Select(c => c.Grid.Name))}); name the one to load");
        // No adapter at all: describing the first grid throws the message that says why it is not one.
        return adapters.Count == 1 ? LoadGrid(file, path, adapters[0].Grid, adapters[0].Info) : LoadGrid(file, path, grids[0], DescribeGrid(file, path, grids[0]));
    }

    /// <summary>Loads every adapter in the file.</summary>
    public static IReadOnlyList<SparseAdapter> LoadAll(string path)
    {
        using var file = Open(path);
        var result = new List<SparseAdapter>();
        try
        {
            foreach (var g in Grids(file).ToList())
                if (TryDescribeGrid(file, path, g) is { } info) result.Add(LoadGrid(file, path, g, info));
            return result;
        }
        catch
        {
            foreach (var a in result) a.Dispose();
            throw;
        }
    }

    private const string FloatGridType = "Tree_float_5_4_3";

    /// <summary>The grid's adapter description; throws InvalidDataException saying why it is not an adapter.</summary>
    private static AdapterInfo DescribeGrid(FileHandle file, string path, (int Index, string Name, string Type) g)
    {
        if (g.Type != FloatGridType)
            throw new InvalidDataException($"grid '{g.Name}' in '{path}' is a {g.Type} grid; adapters are float grids ({FloatGridType})");
        using var meta = GridMeta(file, g.Index);
        return ReadAdapterInfo(meta, g.Name, path);
    }

    /// <summary>Null for grids that do not claim to be adapters; throws for ones that claim it and are broken.</summary>
    private static AdapterInfo? TryDescribeGrid(FileHandle file, string path, (int Index, string Name, string Type) g)
    {
        using (var meta = GridMeta(file, g.Index))
            if (!AdapterFormat.LooksLikeAdapter(meta)) return null;
        return DescribeGrid(file, path, g);
    }

    private static SparseAdapter LoadGrid(FileHandle file, string path, (int Index, string Name, string Type) g, AdapterInfo info)
    {
        Status.Check(Hs.hs_file_read_grid(file, g.Index, out var grid));
        var adapter = SparseAdapter.FromLoaded(grid, info);
        try
        {
            long outside = adapter.CountOutsideModules();
            if (outside != 0)
                throw new InvalidDataException(
                    $"grid '{g.Name}' in '{path}': {outside} of its {adapter.ActiveCount} active voxels lie outside every module in its metadata");
            return adapter;
        }
        catch
        {
            adapter.Dispose();
            throw;
        }
    }

    private static AdapterInfo ReadAdapterInfo(NativeMeta meta, string gridName, string path)
    {
        var info = AdapterFormat.Read(meta, gridName, path);
        try { AdapterNames.ValidateAdapter(info.Name); }
        catch (ArgumentException e) { throw new InvalidDataException($"grid '{gridName}' in '{path}': {e.Message}", e); }
        return info;
    }

    private static FileHandle Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Status.Check(Hs.hs_file_open(Path.GetFullPath(path), out var file));
        return file;
    }

    private static IEnumerable<(int Index, string Name, string Type)> Grids(FileHandle file)
    {
        Status.Check(Hs.hs_file_grid_count(file, out var count));
        for (int i = 0; i < count; i++)
        {
            yield return (i, Hs.FileGridName(file, i), Hs.FileGridType(file, i));
        }
    }

    private static NativeMeta GridMeta(FileHandle file, int index)
    {
        Status.Check(Hs.hs_file_grid_metadata(file, index, out var meta));
        return new NativeMeta(meta);
    }
}

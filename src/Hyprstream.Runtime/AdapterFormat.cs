using System.Globalization;

namespace Hyprstream.Runtime;

/// <summary>
/// The grid metadata that makes a float grid an adapter (documented in README.md, "File format").
/// Owns encoding and validating it; never touches weights.
/// </summary>
internal static class AdapterFormat
{
    public const string Mapping = "hs.mapping";
    public const string MappingVersion = "hs.mapping_version";
    public const string AdapterName = "hs.adapter.name";
    public const string BaseModel = "hs.adapter.base_model";
    public const string ModuleCount = "hs.module_count";
    public const string ProvenancePrefix = "hs.provenance.";
    public const string MetadataPrefix = "hs.meta.";
    public const string FileVoxelCount = "file_voxel_count";
    public const string FileMemBytes = "file_mem_bytes";
    public const string SavedAsHalf = "is_saved_as_half_float";

    public static string ModuleKey(int index, string field) => $"hs.module.{index.ToString("D4", CultureInfo.InvariantCulture)}.{field}";

    public static void Write(NativeMeta meta, string name, string? baseModel, IReadOnlyDictionary<string, string> provenance,
        IReadOnlyDictionary<string, string> metadata, IReadOnlyList<ModuleInfo> modules)
    {
        meta.Set(Mapping, TileMapping.Name);
        meta.Set(MappingVersion, TileMapping.Version);
        meta.Set(AdapterName, name);
        if (baseModel != null) meta.Set(BaseModel, baseModel);
        foreach (var (k, v) in provenance) meta.Set(ProvenancePrefix + k, v);
        foreach (var (k, v) in metadata) meta.Set(MetadataPrefix + k, v);
        meta.Set(ModuleCount, modules.Count);
        for (int i = 0; i < modules.Count; i++)
        {
            var m = modules[i];
            meta.Set(ModuleKey(i, "name"), m.Name);
            meta.Set(ModuleKey(i, "layer"), m.Layer);
            meta.Set(ModuleKey(i, "rows"), m.Rows);
            meta.Set(ModuleKey(i, "cols"), m.Cols);
            meta.Set(ModuleKey(i, "slot_base"), m.SlotBase);
            meta.Set(ModuleKey(i, "scale"), m.Scale);
            meta.Set(ModuleKey(i, "active"), m.ActiveCount);
        }
    }

    /// <summary>Reads and validates adapter metadata; throws InvalidDataException naming what is missing or wrong.</summary>
    public static AdapterInfo Read(NativeMeta meta, string gridName, string path)
    {
        string where = $"grid '{gridName}' in '{path}'";
        var keys = new HashSet<string>(meta.Keys, StringComparer.Ordinal);
        T Need<T>(string key, Func<string, T> get)
        {
            if (!keys.Contains(key))
                throw new InvalidDataException($"{where} is not a Hyprstream adapter: metadata '{key}' is missing");
            try { return get(key); }
            catch (InvalidDataException e) { throw new InvalidDataException($"{where}: {e.Message}", e); }
        }

        var mapping = Need(Mapping, meta.GetString);
        if (mapping != TileMapping.Name)
            throw new InvalidDataException($"{where} uses mapping '{mapping}'; this build reads '{TileMapping.Name}'");
        var version = (int)Need(MappingVersion, meta.GetInt64);
        if (version < 1 || version > TileMapping.Version)
            throw new InvalidDataException($"{where} uses {TileMapping.Name} version {version}; this build reads versions 1..{TileMapping.Version}");
        var name = keys.Contains(AdapterName) ? meta.GetString(AdapterName) : gridName;
        var count = Need(ModuleCount, meta.GetInt64);
        if (count < 0 || count > 1_000_000) throw new InvalidDataException($"{where}: module count {count} is not plausible");

        var modules = new List<ModuleInfo>((int)count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            var mName = Need(ModuleKey(i, "name"), meta.GetString);
            int rows = (int)Need(ModuleKey(i, "rows"), meta.GetInt64), cols = (int)Need(ModuleKey(i, "cols"), meta.GetInt64);
            long slotBase = Need(ModuleKey(i, "slot_base"), meta.GetInt64);
            int layer = keys.Contains(ModuleKey(i, "layer")) ? (int)meta.GetInt64(ModuleKey(i, "layer")) : AdapterNames.LayerOf(mName);
            float scale = keys.Contains(ModuleKey(i, "scale")) ? (float)meta.GetDouble(ModuleKey(i, "scale")) : 1f;
            long active = keys.Contains(ModuleKey(i, "active")) ? meta.GetInt64(ModuleKey(i, "active")) : -1;
            if (rows <= 0 || cols <= 0) throw new InvalidDataException($"{where}: module '{mName}' has shape {rows}x{cols}");
            if (slotBase < 0) throw new InvalidDataException($"{where}: module '{mName}' has negative slot_base {slotBase}");
            if (!float.IsFinite(scale)) throw new InvalidDataException($"{where}: module '{mName}' has a non-finite scale");
            if (!names.Add(mName)) throw new InvalidDataException($"{where}: module name '{mName}' appears twice");
            modules.Add(new ModuleInfo(mName, layer, rows, cols, scale, slotBase, active));
        }
        var sorted = modules.OrderBy(m => m.SlotBase).ToList();
        for (int i = 1; i < sorted.Count; i++)
        {
            var prev = sorted[i - 1];
            if (prev.SlotBase + TileMapping.TileCount(prev.Rows, prev.Cols) > sorted[i].SlotBase)
                throw new InvalidDataException($"{where}: modules '{prev.Name}' and '{sorted[i].Name}' overlap in tile slots");
        }

        var provenance = new Dictionary<string, string>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in keys)
        {
            if (key.StartsWith(ProvenancePrefix, StringComparison.Ordinal)) provenance[key[ProvenancePrefix.Length..]] = meta.GetString(key);
            else if (key.StartsWith(MetadataPrefix, StringComparison.Ordinal)) metadata[key[MetadataPrefix.Length..]] = meta.GetString(key);
        }
        return new AdapterInfo(name, keys.Contains(BaseModel) ? meta.GetString(BaseModel) : null, provenance, metadata, modules,
            mapping, version,
            keys.Contains(FileVoxelCount) ? meta.GetInt64(FileVoxelCount) : -1,
            keys.Contains(FileMemBytes) ? meta.GetInt64(FileMemBytes) : -1,
            keys.Contains(SavedAsHalf) && meta.GetInt64(SavedAsHalf) != 0);
    }

    public static bool LooksLikeAdapter(NativeMeta meta) => meta.Contains(Mapping);
}

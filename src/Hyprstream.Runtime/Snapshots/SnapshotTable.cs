using System.Text.Json;

namespace Hyprstream.Runtime.Snapshots;

/// <summary>
/// The module table of a snapshot file, as JSON in the file header. NanoVDB drops OpenVDB metadata, so this table is
/// what tells a reader which tile slots belong to which module (format "hs.snapshot" v1, mapping "hs.tile8x64" v1).
/// </summary>
internal static class SnapshotTable
{
    public const string Format = "hs.snapshot";
    public const int Version = 1;

    public static string Write(string name, string? baseModel, IReadOnlyList<SnapshotModule> modules,
        IReadOnlyDictionary<string, string>? provenance = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("format", Format);
            w.WriteNumber("version", Version);
            w.WriteString("mapping", TileMapping.Name);
            w.WriteNumber("mapping_version", TileMapping.Version);
            w.WriteString("name", name);
            if (baseModel != null) w.WriteString("base_model", baseModel);
            WriteMap(w, "provenance", provenance);
            WriteMap(w, "metadata", metadata);
            w.WriteStartArray("modules");
            foreach (var m in modules)
            {
                w.WriteStartObject();
                w.WriteString("name", m.Name);
                w.WriteNumber("rows", m.Rows);
                w.WriteNumber("cols", m.Cols);
                w.WriteNumber("scale", m.Scale);
                w.WriteNumber("slot_base", m.SlotBase);
                w.WriteNumber("layer", m.Layer);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(ms.ToArray());
    }

    private static void WriteMap(Utf8JsonWriter w, string key, IReadOnlyDictionary<string, string>? map)
    {
        if (map is not { Count: > 0 }) return;
        w.WriteStartObject(key);
        foreach (var (k, v) in map.OrderBy(p => p.Key, StringComparer.Ordinal)) w.WriteString(k, v);
        w.WriteEndObject();
    }

    /// <summary>What a table holds (provenance and metadata are optional: files before they were kept have none).</summary>
    public sealed record Contents(string Name, string? BaseModel, List<SnapshotModule> Modules,
        Dictionary<string, string> Provenance, Dictionary<string, string> Metadata);

    public static Contents Read(string json, string source)
    {
        InvalidDataException Bad(string why) => new($"{source}: the snapshot's module table is invalid: {why}");
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Bad("not a JSON object");
            string Str(JsonElement e, string key) =>
                e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Bad($"missing string '{key}'");
            long Int(JsonElement e, string key) =>
                e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : throw Bad($"missing integer '{key}'");
            if (Str(root, "format") != Format) throw Bad($"format is not '{Format}'");
            if (Int(root, "version") != Version) throw Bad($"version is not {Version}");
            if (Str(root, "mapping") != TileMapping.Name || Int(root, "mapping_version") != TileMapping.Version)
                throw Bad($"mapping is not {TileMapping.Name} v{TileMapping.Version}");
            string name = Str(root, "name");
            string? baseModel = root.TryGetProperty("base_model", out var bm) && bm.ValueKind == JsonValueKind.String ? bm.GetString() : null;
            if (!root.TryGetProperty("modules", out var mods) || mods.ValueKind != JsonValueKind.Array) throw Bad("missing 'modules'");
            var list = new List<SnapshotModule>();
            foreach (var m in mods.EnumerateArray())
            {
                long rows = Int(m, "rows"), cols = Int(m, "cols"), slotBase = Int(m, "slot_base");
                if (rows <= 0 || cols <= 0 || rows > int.MaxValue || cols > int.MaxValue) throw Bad($"module shape {rows}x{cols}");
                if (slotBase < 0) throw Bad($"negative slot_base {slotBase}");
                float scale = m.TryGetProperty("scale", out var s) && s.ValueKind == JsonValueKind.Number ? s.GetSingle() : 1f;
                if (!float.IsFinite(scale)) throw Bad("scale is not finite");
                int? layer = m.TryGetProperty("layer", out var l) && l.ValueKind == JsonValueKind.Number && l.TryGetInt32(out var li) ? li : null;
                list.Add(new SnapshotModule(Str(m, "name"), (int)rows, (int)cols, scale, slotBase, layer));
            }
            return new Contents(name, baseModel, list, Map(root, "provenance"), Map(root, "metadata"));
        }
        catch (JsonException e)
        {
            throw Bad(e.Message);
        }

        Dictionary<string, string> Map(JsonElement root, string key)
        {
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            if (!root.TryGetProperty(key, out var o)) return map;
            if (o.ValueKind != JsonValueKind.Object) throw Bad($"'{key}' is not an object");
            foreach (var p in o.EnumerateObject())
                map[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : throw Bad($"'{key}.{p.Name}' is not a string");
            return map;
        }
    }
}

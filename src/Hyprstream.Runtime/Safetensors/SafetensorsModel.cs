using System.Text.Json;

namespace Hyprstream.Runtime.Safetensors;

/// <summary>
/// A model's weights: one .safetensors file, or shards listed by a Hugging Face
/// <c>model.safetensors.index.json</c> (<c>{"metadata": {...}, "weight_map": {tensor: shard file}}</c>).
/// Shards are opened memory-mapped; shard names must be plain file names beside the index (no paths).
/// </summary>
public sealed class SafetensorsModel : IDisposable
{
    private readonly Dictionary<string, SafetensorsFile> _owner = new(StringComparer.Ordinal);

    /// <summary>The shards in file-name order (one entry for a single file).</summary>
    public IReadOnlyList<SafetensorsFile> Shards { get; }
    /// <summary>The index file, or null for a single .safetensors file.</summary>
    public string? IndexPath { get; }
    public IReadOnlyDictionary<string, JsonElement> IndexMetadata { get; } = new Dictionary<string, JsonElement>();

    private SafetensorsModel(List<SafetensorsFile> shards, string? indexPath, Dictionary<string, JsonElement>? indexMeta)
    {
        Shards = shards;
        IndexPath = indexPath;
        if (indexMeta != null) IndexMetadata = indexMeta;
        foreach (var s in shards)
            foreach (var t in s.Tensors)
                if (!_owner.TryAdd(t.Name, s))
                    throw new InvalidDataException($"tensor '{t.Name}' is in both '{_owner[t.Name].Path}' and '{s.Path}'");
    }

    public static bool IsIndex(string path) => path.EndsWith(".json", StringComparison.OrdinalIgnoreCase);

    public static SafetensorsModel Open(string path)
    {
        if (!IsIndex(path)) return new SafetensorsModel([SafetensorsFile.Open(path)], null, null);
        if (!File.Exists(path)) throw new FileNotFoundException($"no such file: '{path}'", path);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new InvalidDataException($"'{path}' is not valid JSON ({e.Message})", e); }
        var shards = new List<SafetensorsFile>();
        try
        {
            using (doc)
            {
                if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                    throw new InvalidDataException($"'{path}' has no \"weight_map\" object (not a safetensors index)");
                var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
                var wanted = new Dictionary<string, List<string>>(StringComparer.Ordinal);
                foreach (var e in map.EnumerateObject())
                {
                    if (e.Value.ValueKind != JsonValueKind.String) throw new InvalidDataException($"'{path}': weight_map entry '{e.Name}' is not a file name");
                    var shard = e.Value.GetString()!;
                    if (shard.Length == 0 || shard.Contains('/') || shard.Contains('\\') || shard is "." or ".." || shard.Contains('\0'))
                        throw new InvalidDataException($"'{path}': shard '{shard}' must be a plain file name beside the index");
                    if (!wanted.TryGetValue(shard, out var names)) wanted[shard] = names = new List<string>();
                    names.Add(e.Name);
                }
                foreach (var shard in wanted.Keys.Order(StringComparer.Ordinal))
                {
                    var file = SafetensorsFile.Open(System.IO.Path.Combine(dir, shard));
                    shards.Add(file);
                    foreach (var name in wanted[shard])
                        if (!file.Contains(name)) throw new InvalidDataException($"'{path}' maps '{name}' to '{shard}', which has no such tensor");
                }
                Dictionary<string, JsonElement>? meta = null;
                if (doc.RootElement.TryGetProperty("metadata", out var m) && m.ValueKind == JsonValueKind.Object)
                    meta = m.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone());
                return new SafetensorsModel(shards, path, meta);
            }
        }
        catch
        {
            foreach (var s in shards) s.Dispose();
            throw;
        }
    }

    public IEnumerable<TensorEntry> Tensors => Shards.SelectMany(s => s.Tensors);

    public bool Contains(string name) => _owner.ContainsKey(name);

    public (SafetensorsFile File, TensorEntry Entry) Find(string name) =>
        _owner.TryGetValue(name, out var f) ? (f, f[name]) : throw new KeyNotFoundException($"the base model has no tensor named '{name}'");

    public void Dispose()
    {
        foreach (var s in Shards) s.Dispose();
    }
}

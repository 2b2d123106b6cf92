using System.Text.Json;
using Hyprstream.Runtime.Peft;
using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Runtime.Switching;

/// <summary>
/// Writes base weights with an adapter's ΔW added (or, reverting, subtracted): W' = W ± scale·ΔW in W's own dtype.
/// Only the adapter's stored weights change; every other byte, tensor and the header metadata are copied as they
/// are. A sharded model (index.json) is written as shards of the same names plus an index. Reverting gives back the
/// original to within one rounding of the dtype per touched weight (exact where W ± ΔW ∓ ΔW rounds back, which is
/// not guaranteed in F16/BF16); <see cref="AdapterSwitcher"/> is the bit-exact way in memory.
/// </summary>
public static class SafetensorsApply
{
    public sealed record Result(int TensorsChanged, long WeightsChanged, IReadOnlyList<string> FilesWritten);

    public static Result Apply(string basePath, SparseAdapter adapter, string outPath, float scale = 1f, bool revert = false, Action<int, int>? progress = null)
    {
        if (!float.IsFinite(scale)) throw new ArgumentException("scale must be finite", nameof(scale));
        using var model = SafetensorsModel.Open(basePath);
        bool sharded = model.IndexPath != null;
        if (sharded != SafetensorsModel.IsIndex(outPath))
            throw new ArgumentException(sharded
                ? $"the base is sharded ({Path.GetFileName(basePath)}): -o must name the output index .json; shards are written beside it"
                : "-o must name a .safetensors file (an index .json output needs a sharded base)");
        // Resolve and check everything before writing a byte.
        var byTensor = new Dictionary<string, AdapterModule>(StringComparer.Ordinal);
        foreach (var m in adapter.Modules)
        {
            var tensor = model.Contains(m.Name) ? m.Name : PeftKeys.BaseWeight(m.Name);
            if (!model.Contains(tensor)) throw new KeyNotFoundException($"the base model has no tensor '{PeftKeys.BaseWeight(m.Name)}' for adapter module '{m.Name}'");
            var (_, entry) = model.Find(tensor);
            if (!entry.DType.IsFloat()) throw new InvalidDataException($"base tensor '{tensor}' is {entry.DType}; only F32, F16 and BF16 weights can take a delta");
            var (rows, cols) = entry.FlatMatrix();   // a bias is 1 x n, a stack of experts (E·d1) x d2
            if (rows != m.Rows || cols != m.Cols)
                throw new InvalidDataException($"module '{m.Name}' is {m.Rows}x{m.Cols} but base tensor '{tensor}' is {entry.ShapeText}");
            byTensor[tensor] = m;
        }
        var outFull = Path.GetFullPath(outPath);
        var outDir = Path.GetDirectoryName(outFull)!;
        foreach (var shard in model.Shards)
            if (string.Equals(Path.GetFullPath(sharded ? Path.Combine(outDir, Path.GetFileName(shard.Path)) : outFull), Path.GetFullPath(shard.Path), StringComparison.Ordinal))
                throw new ArgumentException($"the output would overwrite the base file '{shard.Path}'");
        if (sharded) Directory.CreateDirectory(outDir);
        var written = new List<string>();
        int changed = 0, done = 0, total = model.Shards.Sum(s => s.Tensors.Count);
        long weights = 0;
        float sign = revert ? -1f : 1f;
        foreach (var shard in model.Shards)
        {
            var target = sharded ? Path.Combine(outDir, Path.GetFileName(shard.Path)) : outFull;
            using var w = new SafetensorsWriter(target);
            foreach (var (k, v) in shard.Metadata) w.Metadata[k] = v;
            var ordered = shard.Tensors.OrderBy(t => t.Begin).ToList();   // keep the base file's layout
            foreach (var t in ordered) w.Declare(t.Name, t.DType, t.Shape);
            foreach (var t in ordered)
            {
                if (byTensor.TryGetValue(t.Name, out var m))
                {
                    var data = shard.Bytes(t).ToArray();
                    var runs = DeltaRuns.From(m, scale);
                    DeltaKernels.Apply(data, t.DType, runs, sign);
                    w.Write(data);
                    changed++;
                    weights += runs.Count;
                }
                else CopyChunked(shard, t, w);
                progress?.Invoke(++done, total);
            }
            w.Commit();
            written.Add(target);
        }
        if (sharded)
        {
            var index = new Dictionary<string, object>
            {
                ["metadata"] = model.IndexMetadata.ToDictionary(p => p.Key, p => (object)p.Value),
                ["weight_map"] = model.Shards.SelectMany(s => s.Tensors.Select(t => (t.Name, File: Path.GetFileName(s.Path))))
                    .OrderBy(p => p.Name, StringComparer.Ordinal).ToDictionary(p => p.Name, p => p.File),
            };
            File.WriteAllText(outFull, JsonSerializer.Serialize(index, new JsonSerializerOptions { WriteIndented = true }));
            written.Add(outFull);
        }
        return new Result(changed, weights, written);
    }

    private static void CopyChunked(SafetensorsFile file, TensorEntry t, SafetensorsWriter w)
    {
        const int chunk = 64 << 20;
        for (long at = 0; at < t.ByteLength; at += chunk)
            w.Write(file.Bytes(t, at, (int)Math.Min(chunk, t.ByteLength - at)));
    }
}

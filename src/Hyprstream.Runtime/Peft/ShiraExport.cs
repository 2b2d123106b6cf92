using System.Text.Json;
using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Runtime.Peft;

/// <summary>
/// Writes an adapter as a PEFT SHiRA adapter directory. PEFT gives each module exactly r·(rows + cols) trainable
/// values (and loads the saved [2, r·(rows + cols)] indices in place of its random mask), so r is the smallest budget
/// that holds every module's weights, and modules with fewer weights are padded with explicit zeros at positions the
/// adapter does not use: ΔW is unchanged, and the shapes are the ones PEFT expects. As PEFT writes them, indices are
/// int32 (torch.where(mask) cast with .to(torch.int)) and the file's metadata is {"format": "pt"}; task_type is the
/// one the adapter was imported with (CAUSAL_LM when it has none).
/// </summary>
public static class ShiraExport
{
    public sealed record Result(int R, long Values, long Padding);

    public static Result Write(SparseAdapter adapter, string outDir, int? r = null)
    {
        var modules = adapter.Modules.ToList();
        if (modules.Count == 0) throw new ArgumentException($"adapter '{adapter.Name}' has no modules");
        if (modules.FirstOrDefault(m => m.Name.EndsWith(".bias", StringComparison.Ordinal)) is { } bias)
            throw new ArgumentException($"module '{bias.Name}' is a bias; SHiRA holds deltas of linear weights only");
        int budget = r ?? modules.Max(m => (int)Math.Max(1, (m.ActiveCount + m.Rows + m.Cols - 1) / (m.Rows + m.Cols)));
        foreach (var m in modules)
        {
            long need = (long)budget * (m.Rows + m.Cols);
            if (m.ActiveCount > need) throw new ArgumentException($"module '{m.Name}' has {m.ActiveCount} weights; r = {budget} holds only {need}");
            if (need > m.TotalWeights) throw new ArgumentException($"module '{m.Name}' ({m.Rows}x{m.Cols}) cannot hold r·(rows+cols) = {need} SHiRA values; r = {budget} is too large for it");
        }
        Directory.CreateDirectory(outDir);
        long values = 0, padding = 0;
        using (var w = new SafetensorsWriter(Path.Combine(outDir, PeftImport.WeightsFile)))
        {
            w.Metadata["format"] = "pt";
            foreach (var m in modules)
            {
                long n = (long)budget * (m.Rows + m.Cols);
                w.Declare(PeftKeys.ShiraWeight(m.Name), TensorDType.F32, n);
                w.Declare(PeftKeys.ShiraIndices(m.Name), TensorDType.I32, 2, n);
            }
            foreach (var m in modules)
            {
                int n = checked(budget * (m.Rows + m.Cols));
                var entries = new List<(long Pos, float V)>(n);
                foreach (var a in m.EnumerateActive()) entries.Add(((long)a.Row * m.Cols + a.Col, a.Value * m.Scale));
                var used = entries.Select(e => e.Pos).ToHashSet();
                for (long pos = 0; entries.Count < n; pos++)
                    if (!used.Contains(pos)) { entries.Add((pos, 0f)); padding++; }
                entries.Sort((x, y) => x.Pos.CompareTo(y.Pos));   // row-major, as torch.where(mask) yields them
                values += n;
                w.WriteFloats(entries.Select(e => e.V).ToArray());
                var idx = new int[2L * n];
                for (int i = 0; i < n; i++) { idx[i] = (int)(entries[i].Pos / m.Cols); idx[n + i] = (int)(entries[i].Pos % m.Cols); }
                w.WriteInts(idx);
            }
            w.Commit();
        }
        var config = new Dictionary<string, object?>
        {
            ["peft_type"] = "SHIRA",
            ["task_type"] = adapter.Provenance.TryGetValue("task_type", out var task) ? task : "CAUSAL_LM",
            ["r"] = budget,
            ["mask_type"] = "random",
            ["random_seed"] = null,
            ["target_modules"] = modules.Select(m => m.Name[(m.Name.LastIndexOf('.') + 1)..]).Distinct().Order().ToList(),
            ["base_model_name_or_path"] = adapter.BaseModel,
            ["fan_in_fan_out"] = false,
            ["init_weights"] = true,
            ["modules_to_save"] = null,
            ["inference_mode"] = true,
        };
        File.WriteAllText(Path.Combine(outDir, PeftImport.ConfigFile), JsonSerializer.Serialize(config, new JsonSerializerOptions { WriteIndented = true }));
        return new Result(budget, values, padding);
    }
}

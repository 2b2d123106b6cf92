using System.CommandLine;
using Hyprstream.Runtime;

namespace Hyprstream.Server.Commands;

/// <summary>`hyprstream merge a.vdb b.vdb --weights 1,0.5 -o out.vdb`: Σ wᵢ·ΔWᵢ into one adapter.</summary>
internal static class MergeCommand
{
    public static Command Create()
    {
        var inputs = new Argument<string[]>("adapters") { Description = "adapter .vdb files", Arity = ArgumentArity.OneOrMore };
        var weights = new Option<string?>("--weights") { Description = "one weight per adapter, comma-separated (default: all 1)" };
        var output = new Option<string>("--output", "-o") { Description = "the .vdb file to write", Required = true };
        var name = new Option<string?>("--name") { Description = "name of the fused adapter (default: the output file name)" };
        var json = new Option<bool>("--json") { Description = "print JSON" };
        var cmd = new Command("merge", "Fuse adapters into one: ΔW = Σ wᵢ·ΔWᵢ (effective deltas; module scales honoured)") { inputs, weights, output, name, json };
        cmd.SetAction(r =>
        {
            var files = r.GetValue(inputs)!;
            var w = r.GetValue(weights) is { } text ? Ui.ParseList(text, "--weights") : files.Select(_ => 1f).ToArray();
            if (w.Length != files.Length) throw new ArgumentException($"{files.Length} adapters but {w.Length} weights");
            var outPath = r.GetValue(output)!;
            AdapterNames.ValidateAdapter(r.GetValue(name) ?? Path.GetFileNameWithoutExtension(outPath)); // before loading anything
            var adapters = new List<SparseAdapter>();
            try
            {
                foreach (var f in files) adapters.Add(SparseAdapter.Load(f));
                using var fused = SparseAdapter.Fuse(r.GetValue(name) ?? Path.GetFileNameWithoutExtension(outPath), adapters, w);
                fused.Save(outPath);
                if (r.GetValue(json))
                {
                    Ui.Json(new { output = outPath, adapter = fused.Name, inputs = files, weights = w, modules = fused.Modules.Count, active_weights = fused.ActiveCount });
                    return 0;
                }
                Ui.Line($"fused {files.Length} adapters ({string.Join(", ", adapters.Select((a, i) => $"{Ui.E(a.Name)}×{w[i]:G4}"))}) into [bold]{Ui.E(fused.Name)}[/]: " +
                        $"{fused.Modules.Count} modules, {fused.ActiveCount:N0} weights → {Ui.E(outPath)}");
                return 0;
            }
            finally
            {
                foreach (var a in adapters) a.Dispose();
            }
        });
        return cmd;
    }
}

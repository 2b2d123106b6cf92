using System.CommandLine;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Switching;

namespace Hyprstream.Server.Commands;

/// <summary>`hyprstream apply --base model.safetensors adapter.vdb -o merged.safetensors [--scale s] [--revert]`.</summary>
internal static class ApplyCommand
{
    public static Command Create()
    {
        var adapter = new Argument<string>("adapter") { Description = "adapter .vdb file" };
        var basePath = new Option<string>("--base") { Description = "base weights: a .safetensors file or a sharded model's index .json", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "output .safetensors (or index .json for a sharded base; shards are written beside it)", Required = true };
        var scale = new Option<float>("--scale") { Description = "multiplier on ΔW", DefaultValueFactory = _ => 1f };
        var revert = new Option<bool>("--revert") { Description = "subtract ΔW instead (undoes a previous apply to within one rounding per weight)" };
        var name = new Option<string?>("--name") { Description = "which adapter, when the file holds several" };
        var json = new Option<bool>("--json") { Description = "print JSON" };
        var cmd = new Command("apply", "Write base weights with an adapter's ΔW added (or subtracted with --revert); dtype preserved") { adapter, basePath, output, scale, revert, name, json };
        cmd.SetAction(r =>
        {
            bool asJson = r.GetValue(json), rev = r.GetValue(revert);
            using var a = SparseAdapter.Load(r.GetValue(adapter)!, r.GetValue(name));
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var result = Ui.WithProgress(rev ? "reverting" : "applying", asJson,
                report => SafetensorsApply.Apply(r.GetValue(basePath)!, a, r.GetValue(output)!, r.GetValue(scale), rev, report));
            if (asJson)
            {
                Ui.Json(new { adapter = a.Name, revert = rev, scale = r.GetValue(scale), tensors_changed = result.TensorsChanged, weights_changed = result.WeightsChanged,
                    files = result.FilesWritten, seconds = sw.Elapsed.TotalSeconds });
                return 0;
            }
            Ui.Line($"{(rev ? "subtracted" : "added")} {r.GetValue(scale):G6}·ΔW of [bold]{Ui.E(a.Name)}[/]: {result.WeightsChanged:N0} weights in {result.TensorsChanged} tensors, " +
                    $"other tensors copied unchanged, dtypes kept ({sw.Elapsed.TotalSeconds:F1} s)");
            foreach (var f in result.FilesWritten) Ui.Line($"  wrote {Ui.E(f)}");
            if (rev)
                Ui.Line("[grey]revert: W − ΔW in float32, rounded once to the dtype — exact up to that rounding (≤ 1 step of F16/BF16); AdapterSwitcher restores bit-exact in memory[/]");
            return 0;
        });
        return cmd;
    }
}

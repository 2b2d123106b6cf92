using System.CommandLine;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Export;
using Hyprstream.Runtime.Peft;

namespace Hyprstream.Server.Commands;

/// <summary>`hyprstream export adapter.vdb -o delta.safetensors [--dense] [--format coo|dense|shira]`.</summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var adapter = new Argument<string>("adapter") { Description = "adapter .vdb file" };
        var output = new Option<string>("--output", "-o") { Description = "output .safetensors (coo, dense) or directory (shira)", Required = true };
        var dense = new Option<bool>("--dense") { Description = "same as --format dense" };
        var format = new Option<string>("--format") { Description = "coo (<module>.indices int32 [n,2] + .values [n]), dense (<module>.weight), or shira (a PEFT SHiRA adapter directory)", DefaultValueFactory = _ => "coo" };
        var r = new Option<int?>("--r") { Description = "shira: the budget r (default: the smallest that holds every module)" };
        var name = new Option<string?>("--name") { Description = "which adapter, when the file holds several" };
        var json = new Option<bool>("--json") { Description = "print JSON" };
        var cmd = new Command("export", "Write an adapter's effective ΔW as safetensors (COO or dense) or as a PEFT SHiRA adapter") { adapter, output, dense, format, r, name, json };
        cmd.SetAction(p =>
        {
            var fmt = p.GetValue(dense) ? "dense" : p.GetValue(format)!.ToLowerInvariant();
            if (fmt is not ("coo" or "dense" or "shira")) throw new ArgumentException($"--format must be coo, dense or shira, not '{fmt}'");
            bool asJson = p.GetValue(json);
            using var a = SparseAdapter.Load(p.GetValue(adapter)!, p.GetValue(name));
            var outPath = p.GetValue(output)!;
            if (fmt == "shira")
            {
                var res = ShiraExport.Write(a, outPath, p.GetValue(r));
                if (asJson) { Ui.Json(new { format = fmt, output = outPath, r = res.R, values = res.Values, padding = res.Padding }); return 0; }
                Ui.Line($"wrote PEFT SHiRA adapter {Ui.E(outPath)}: r = {res.R}, {res.Values:N0} values ({res.Padding:N0} zero padding so every module has r·(rows+cols))");
                return 0;
            }
            long bytes = Ui.WithProgress("exporting", asJson, report => DeltaExport.Write(a, outPath, fmt == "dense", report));
            long size = new FileInfo(outPath).Length;
            if (asJson) { Ui.Json(new { format = fmt, output = outPath, modules = a.Modules.Count, active_weights = a.ActiveCount, bytes = size }); return 0; }
            Ui.Line($"wrote {fmt} ΔW of [bold]{Ui.E(a.Name)}[/] ({a.Modules.Count} modules, {a.ActiveCount:N0} weights, scales applied) to {Ui.E(outPath)}: {size:N0} bytes");
            return 0;
        });
        return cmd;
    }
}

using System.CommandLine;
using Hyprstream.Runtime;

namespace Hyprstream.Server.Commands;

/// <summary>`hyprstream prune in.vdb --tolerance 1e-4 | --density 0.005 -o out.vdb`.</summary>
internal static class PruneCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("adapter") { Description = "adapter .vdb file" };
        var tolerance = new Option<float?>("--tolerance") { Description = "drop stored weights with |w| <= tolerance" };
        var density = new Option<double?>("--density") { Description = "keep this fraction of each module's weights" };
        var structure = new Option<string>("--structure") { Description = "with --density: tile or unstructured", DefaultValueFactory = _ => "tile" };
        var output = new Option<string>("--output", "-o") { Description = "the .vdb file to write", Required = true };
        var json = new Option<bool>("--json") { Description = "print JSON" };
        var cmd = new Command("prune", "Drop small weights (--tolerance) or keep the top fraction (--density)") { input, tolerance, density, structure, output, json };
        cmd.SetAction(r =>
        {
            var tol = r.GetValue(tolerance);
            var dens = r.GetValue(density);
            if (tol.HasValue == dens.HasValue) throw new ArgumentException("give exactly one of --tolerance or --density");
            if (tol is { } t && !(t >= 0 && float.IsFinite(t))) throw new ArgumentException($"--tolerance must be a finite number >= 0, got {t}");
            using var a = SparseAdapter.Load(r.GetValue(input)!);
            long before = a.ActiveCount;
            double? energy = null;
            if (tol is { } tt) a.Prune(tt);
            else
            {
                energy = a.KeepTopFraction(dens!.Value, Ui.ParseStructure(r.GetValue(structure)!));
                a.Provenance["pruned_density"] = dens.Value.ToString("R");
            }
            long after = a.ActiveCount;
            var outPath = r.GetValue(output)!;
            a.Save(outPath);
            if (r.GetValue(json))
            {
                Ui.Json(new { output = outPath, adapter = a.Name, before, after, removed = before - after, retained_energy = energy });
                return 0;
            }
            Ui.Line($"[bold]{Ui.E(a.Name)}[/]: {before:N0} → {after:N0} weights ({before - after:N0} removed)" +
                    (energy is { } e ? $", retained energy {e:F4}" : "") + $" → {Ui.E(outPath)}");
            return 0;
        });
        return cmd;
    }
}

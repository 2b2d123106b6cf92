using System.CommandLine;
using Hyprstream.Replication;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Peft;
using Spectre.Console;

namespace Hyprstream.Server.Commands;

/// <summary>
/// `hyprstream import-peft dir -o out.vdb`: a PEFT LoRA (ΔW = scale·B·A, sparsified; DoRA with --base) or SHiRA adapter
/// into one .vdb. Every tensor of the file is used, kept as a delta against --base, or named in a refusal
/// (--drop-extras: in a note instead).
/// </summary>
internal static class ImportPeftCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("adapter_dir") { Description = "PEFT adapter directory (adapter_config.json + adapter_model.safetensors), or its s3://bucket/prefix address" };
        var endpoint = ObjectStoreOption.Create();
        var output = new Option<string>("--output", "-o") { Description = "the .vdb file to write", Required = true };
        var density = new Option<double>("--density") { Description = "fraction of each module's weights kept (LoRA)", DefaultValueFactory = _ => 0.01 };
        var structure = new Option<string>("--structure") { Description = "tile (whole 8x64 tiles) or unstructured", DefaultValueFactory = _ => "tile" };
        var baseConfig = new Option<string?>("--base-config") { Description = "the base model's Hugging Face config.json: module shapes are checked against it (and give SHiRA the shapes of q/k/v/o/gate/up/down and MoE experts)" };
        var baseWeights = new Option<string?>("--base") { Description = "the base model's weights (.safetensors or index .json): shapes of any module, and the values DoRA and saved parameters (modules_to_save, biases, trainable tokens) need" };
        var dropExtras = new Option<bool>("--drop-extras") { Description = "import without the tensors that cannot be kept as deltas (each is named), instead of refusing" };
        var name = new Option<string?>("--name") { Description = "adapter name (default: the directory name)" };
        var half = new Option<bool>("--half") { Description = "save values as half floats (~2.35 B/weight on disk)" };
        var json = new Option<bool>("--json") { Description = "print JSON" };
        var cmd = new Command("import-peft", "Import a PEFT LoRA or SHiRA adapter: ΔW per module, sparsified, written to one .vdb") { dir, output, density, structure, baseConfig, baseWeights, dropExtras, name, half, json, endpoint };
        cmd.SetAction(r =>
        {
            bool asJson = r.GetValue(json);
            if (r.GetValue(name) is { } given) AdapterNames.ValidateAdapter(given); // before the import's work
            var options = new PeftImportOptions
            {
                Density = r.GetValue(density),
                Structure = Ui.ParseStructure(r.GetValue(structure)!),
                BaseConfigPath = r.GetValue(baseConfig),
                BasePath = r.GetValue(baseWeights),
                DropExtras = r.GetValue(dropExtras),
                Name = r.GetValue(name),
            };
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var source = r.GetValue(dir)!;
            using var download = S3Uri.IsS3(source)
                ? AdapterSources.FolderAsync(S3Uri.Parse(source), ObjectStoreOption.Settings(r, endpoint), line => { if (!asJson) Ui.Line($"[grey]downloading {Ui.E(line)}[/]"); }).GetAwaiter().GetResult()
                : null;
            var result = Ui.WithProgress("importing", asJson, report => PeftImport.Import(download?.Path ?? source, options, (i, n, _) => report(i, n)));
            using var adapter = result.Adapter;
            var outPath = r.GetValue(output)!;
            adapter.Save(outPath, r.GetValue(half) ? SaveOptions.Half : SaveOptions.Default);
            long onDisk = new FileInfo(outPath).Length, active = adapter.ActiveCount;
            if (asJson)
            {
                Ui.Json(new
                {
                    adapter = adapter.Name, output = outPath, peft_type = result.Config.PeftType, base_model = adapter.BaseModel,
                    density = result.Config.PeftType == "SHIRA" ? 1.0 : options.Density, structure = result.Config.PeftType == "SHIRA" ? "as stored" : r.GetValue(structure), modules = result.Modules, retained_energy = result.RetainedEnergy,
                    active_weights = active, bytes_on_disk = onDisk, seconds = sw.Elapsed.TotalSeconds, notes = result.Notes,
                });
                return 0;
            }
            var table = new Table().AddColumns("module", "kind", "shape", "rank", "scale", "kept", "retained energy", "shape check");
            foreach (var m in result.Modules)
                table.AddRow(Ui.E(m.Module), m.Kind, $"{m.Rows}x{m.Cols}", m.Rank.ToString(), m.Scale.ToString("G6"), m.Kept.ToString("N0"),
                    m.RetainedEnergy.ToString("F4"), m.ShapeChecked ? "ok" : "-");
            Ui.Write(table);
            foreach (var note in result.Notes) Ui.Line($"[yellow]note[/]: {Ui.E(note)}");
            Ui.Line($"{result.Config.PeftType} adapter [bold]{Ui.E(adapter.Name)}[/] (base {Ui.E(adapter.BaseModel)}): {result.Modules.Count} modules, " +
                    $"{active:N0} weights kept ({(double)active / Math.Max(1, adapter.TotalWeights):P3}), total retained energy [bold]{result.RetainedEnergy:F4}[/]");
            Ui.Line($"wrote {Ui.E(outPath)}: {onDisk:N0} bytes ({(double)onDisk / Math.Max(1, active):F2} B/weight) in {sw.Elapsed.TotalSeconds:F1} s");
            return 0;
        });
        return cmd;
    }
}

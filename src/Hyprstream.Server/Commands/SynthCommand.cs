using Hyprstream.Runtime.Synthetic;
using System.CommandLine;
using Hyprstream.Runtime.Peft;
using Hyprstream.Runtime.Safetensors;
using Hyprstream.Bench;

namespace Hyprstream.Server.Commands;

/// <summary>`hyprstream synth dir`: a Qwen3-1.7B-shaped synthetic base model and PEFT LoRA adapter, for trying the other commands.</summary>
internal static class SynthCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("dir") { Description = "directory to write config.json, model*.safetensors and lora/ into" };
        var layers = new Option<int>("--layers") { Description = "decoder layers (Qwen3-1.7B has 28)", DefaultValueFactory = _ => 28 };
        var dtype = new Option<string>("--dtype") { Description = "base weight dtype: F32, F16 or BF16", DefaultValueFactory = _ => "BF16" };
        var shards = new Option<int>("--shards") { Description = "split the base into this many shards with model.safetensors.index.json", DefaultValueFactory = _ => 1 };
        var rank = new Option<int>("--rank") { Description = "LoRA rank r", DefaultValueFactory = _ => 16 };
        var alpha = new Option<double>("--alpha") { Description = "LoRA alpha", DefaultValueFactory = _ => 32 };
        var rslora = new Option<bool>("--rslora") { Description = "write use_rslora: true" };
        var noBase = new Option<bool>("--no-base") { Description = "write only config.json and the adapter" };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 1 };
        var cmd = new Command("synth", "Write a synthetic Qwen3-1.7B-shaped base model (safetensors) and a PEFT LoRA adapter with PEFT's key names") { dir, layers, dtype, shards, rank, alpha, rslora, noBase, seed };
        cmd.SetAction(r =>
        {
            var root = r.GetValue(dir)!;
            int l = r.GetValue(layers);
            if (l <= 0 || l > 28) throw new ArgumentException($"--layers must be 1..28, got {l}");
            if (r.GetValue(rank) <= 0) throw new ArgumentException("--rank must be positive");
            var dt = TensorDTypes.Parse(r.GetValue(dtype)!.ToUpperInvariant()) is { } d && d.IsFloat() ? d : throw new ArgumentException($"--dtype must be F32, F16 or BF16");
            var config = HfModelConfig.Qwen3_1_7B;
            Directory.CreateDirectory(root);
            if (r.GetValue(noBase)) (config with { Layers = l }).Save(Path.Combine(root, "config.json"));
            else
            {
                var files = Ui.WithProgress("base weights", false, report => SyntheticModel.WriteBase(root, config, l, dt, r.GetValue(shards), r.GetValue(seed), report));
                foreach (var f in files) Ui.Line($"wrote {Ui.E(f)} ({new FileInfo(f).Length:N0} bytes)");
            }
            var lora = Path.Combine(root, "lora");
            SyntheticModel.WriteLora(lora, config, l, r.GetValue(rank), r.GetValue(alpha), r.GetValue(rslora), "Qwen/Qwen3-1.7B", r.GetValue(seed));
            Ui.Line($"wrote {Ui.E(lora)}: PEFT LoRA r={r.GetValue(rank)} alpha={r.GetValue(alpha)} on {l * 7} modules ({new FileInfo(Path.Combine(lora, PeftImport.WeightsFile)).Length:N0} bytes)");
            return 0;
        });
        return cmd;
    }
}

namespace Hyprstream.Runtime.Peft;

/// <summary>What one module became: its shape, rank, scale, kept weights and retained energy ‖ΔW_kept‖_F / ‖ΔW‖_F.</summary>
/// <param name="Kind">How its ΔW was formed: lora (scale·B·A), dora (from the base, see <see cref="DoraDelta"/>),
/// expert_lora (target_parameters, <see cref="ExpertParameterLora"/>), shira (values as stored), lora_bias
/// (scale·lora_B.bias), replaced / trainable_tokens (saved − base, see <see cref="PeftExtras"/>).</param>
public sealed record ModuleImport(string Module, int Rows, int Cols, int Rank, double Scale, long Kept, double RetainedEnergy, bool ShapeChecked, string Kind = "lora");

using Hyprstream.Runtime.Linalg;
using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Runtime.Peft;

/// <summary>What one module became: its shape, rank, scale, kept weights and retained energy ‖ΔW_kept‖_F / ‖ΔW‖_F.</summary>
public sealed record ModuleImport(string Module, int Rows, int Cols, int Rank, double Scale, long Kept, double RetainedEnergy, bool ShapeChecked);

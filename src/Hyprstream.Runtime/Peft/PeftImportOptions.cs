using Hyprstream.Runtime.Linalg;
using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Runtime.Peft;

public sealed record PeftImportOptions
{
    /// <summary>Fraction of each LoRA/DoRA module's weights kept (SHiRA imports and the saved-parameter deltas are lossless).</summary>
    public double Density { get; init; } = 0.01;
    public SparsityStructure Structure { get; init; } = SparsityStructure.Tile;
    /// <summary>A Hugging Face config.json to check module shapes against (and to give SHiRA its shapes).</summary>
    public string? BaseConfigPath { get; init; }
    /// <summary>
    /// The base model's weights (.safetensors or a sharded index.json): shapes for any module name, and the values
    /// DoRA and saved parameters need (their ΔW is relative to the base).
    /// </summary>
    public string? BasePath { get; init; }
    /// <summary>Import without the tensors that cannot be kept as deltas (each is named in <see cref="PeftImportResult.Notes"/>).</summary>
    public bool DropExtras { get; init; }
    /// <summary>Adapter name; default: the adapter directory's name.</summary>
    public string? Name { get; init; }
}

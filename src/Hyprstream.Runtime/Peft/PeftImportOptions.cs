using Hyprstream.Runtime.Linalg;
using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Runtime.Peft;

public sealed record PeftImportOptions
{
    /// <summary>Fraction of each module's weights kept (LoRA only; SHiRA imports are lossless).</summary>
    public double Density { get; init; } = 0.01;
    public SparsityStructure Structure { get; init; } = SparsityStructure.Tile;
    /// <summary>A Hugging Face config.json to check module shapes against (required for SHiRA, whose files hold no shapes).</summary>
    public string? BaseConfigPath { get; init; }
    /// <summary>Adapter name; default: the adapter directory's name.</summary>
    public string? Name { get; init; }
}

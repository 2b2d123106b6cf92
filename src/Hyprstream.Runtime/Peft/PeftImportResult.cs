using Hyprstream.Runtime.Linalg;
using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Runtime.Peft;

/// <param name="Notes">What the import skipped or dropped, one line per tensor, naming it and why.</param>
public sealed record PeftImportResult(SparseAdapter Adapter, PeftAdapterConfig Config, IReadOnlyList<ModuleImport> Modules, double RetainedEnergy,
    IReadOnlyList<string> Notes);

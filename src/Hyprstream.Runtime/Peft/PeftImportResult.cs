using Hyprstream.Runtime.Linalg;
using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Runtime.Peft;

public sealed record PeftImportResult(SparseAdapter Adapter, PeftAdapterConfig Config, IReadOnlyList<ModuleImport> Modules, double RetainedEnergy);

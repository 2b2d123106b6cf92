using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Runtime.Switching;

/// <summary>
/// Switches sparse adapters into dense base weights held in memory, and back out. Switching in saves the exact bits
/// it overwrites (only at the adapter's stored weights: nothing else is read or written); switching out puts them
/// back, so the base is restored bit for bit whatever the dtype. One adapter is in at a time. Not thread-safe:
/// callers serialise switches (a server switches between requests).
/// </summary>
public sealed class AdapterSwitcher
{
    private readonly Dictionary<string, DenseTensor> _weights;
    private Prepared? _active;

    /// <summary>An adapter resolved against these weights: its runs and the buffers that keep the overwritten bits.</summary>
    public sealed class Prepared
    {
        internal Prepared(string name, List<(DenseTensor Target, DeltaRuns Runs, byte[] Saved)> modules)
        {
            AdapterName = name;
            Modules = modules;
        }

        public string AdapterName { get; }
        internal List<(DenseTensor Target, DeltaRuns Runs, byte[] Saved)> Modules { get; }
        public long Weights => Modules.Sum(m => (long)m.Runs.Count);
        public long Runs => Modules.Sum(m => (long)m.Runs.Start.Length);
    }

    /// <param name="weights">Base weights by module name (the tensor name without ".weight") or full tensor name.</param>
    public AdapterSwitcher(IEnumerable<DenseTensor> weights)
    {
        _weights = new Dictionary<string, DenseTensor>(StringComparer.Ordinal);
        foreach (var w in weights)
            if (!_weights.TryAdd(w.Name, w)) throw new ArgumentException($"two base tensors are named '{w.Name}'");
    }

    public string? ActiveAdapter => _active?.AdapterName;

    /// <summary>Resolves each module to its base tensor (checking shapes) and extracts its runs; changes no weight.</summary>
    public Prepared Prepare(SparseAdapter adapter, float scale = 1f)
    {
        if (!float.IsFinite(scale)) throw new ArgumentException("scale must be finite", nameof(scale));
        var list = new List<(DenseTensor, DeltaRuns, byte[])>();
        foreach (var m in adapter.Modules)
        {
            var target = Find(m.Name);
            if (target.Rows != m.Rows || target.Cols != m.Cols)
                throw new ArgumentException($"module '{m.Name}' is {m.Rows}x{m.Cols} but base tensor '{target.Name}' is {target.Rows}x{target.Cols}");
            var runs = DeltaRuns.From(m, scale);
            list.Add((target, runs, new byte[(long)runs.Count * target.DType.Size()]));
        }
        return new Prepared(adapter.Name, list);
    }

    public void SwitchIn(SparseAdapter adapter, float scale = 1f) => SwitchIn(Prepare(adapter, scale));

    /// <summary>W += ΔW at the adapter's weights, keeping the overwritten bits.</summary>
    public void SwitchIn(Prepared prepared)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        if (_active != null) throw new InvalidOperationException($"adapter '{_active.AdapterName}' is switched in; switch it out first");
        foreach (var (target, _, _) in prepared.Modules)
            if (!_weights.TryGetValue(target.Name, out var mine) || !ReferenceEquals(mine, target))
                throw new ArgumentException($"adapter '{prepared.AdapterName}' was prepared against other base weights");
        foreach (var (target, runs, saved) in prepared.Modules)
            DeltaKernels.Apply(target.Data, target.DType, runs, 1f, saved);
        _active = prepared;
    }

    /// <summary>Restores the saved bits: the base is exactly what it was before <see cref="SwitchIn(Prepared)"/>.</summary>
    public void SwitchOut()
    {
        if (_active == null) throw new InvalidOperationException("no adapter is switched in");
        foreach (var (target, runs, saved) in _active.Modules)
            DeltaKernels.Restore(target.Data, target.DType, runs, saved);
        _active = null;
    }

    private DenseTensor Find(string module)
    {
        if (_weights.TryGetValue(module, out var t) || _weights.TryGetValue(PeftKeysBaseWeight(module), out t)) return t;
        throw new KeyNotFoundException($"no base weight for module '{module}' (looked for '{module}' and '{PeftKeysBaseWeight(module)}')");
    }

    private static string PeftKeysBaseWeight(string module) => Peft.PeftKeys.BaseWeight(module);
}

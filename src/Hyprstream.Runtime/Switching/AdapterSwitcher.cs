using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Runtime.Switching;

/// <summary>
/// Switches sparse adapters into dense base weights held in memory, and back out, touching only the adapter's
/// stored weights. <see cref="Prepare"/> (base clean, nothing switched in) keeps the base values at those positions
/// and computes the switched-in values once, in the weight's dtype; switching in then copies the switched values
/// over the base and switching out copies the kept values back, so the base comes back bit for bit (F32, F16, BF16)
/// and each switch is a scatter of whole runs (64 weights per tile row), not arithmetic.
/// The switcher assumes it is the only writer of these tensors while adapters are prepared against them. Not
/// thread-safe: callers serialise switches (a server switches between requests).
/// </summary>
public sealed class AdapterSwitcher
{
    private readonly Dictionary<string, DenseTensor> _weights;
    private Prepared? _active;

    /// <summary>An adapter resolved against these weights: its runs, the base values it covers, its switched-in values.</summary>
    public sealed class Prepared
    {
        internal Prepared(AdapterSwitcher owner, string name, List<Slot> modules)
        {
            Owner = owner;
            AdapterName = name;
            Modules = modules;
        }

        internal AdapterSwitcher Owner { get; }
        public string AdapterName { get; }
        internal List<Slot> Modules { get; }
        public long Weights => Modules.Sum(m => (long)m.Runs.Count);
        public long Runs => Modules.Sum(m => (long)m.Runs.Start.Length);
    }

    internal sealed record Slot(DenseTensor Target, DeltaRuns Runs, byte[] Base, byte[] Switched);

    /// <param name="weights">Base weights named by module ("model.layers.0.self_attn.q_proj") or tensor ("….q_proj.weight").</param>
    public AdapterSwitcher(IEnumerable<DenseTensor> weights)
    {
        _weights = new Dictionary<string, DenseTensor>(StringComparer.Ordinal);
        foreach (var w in weights)
            if (!_weights.TryAdd(w.Name, w)) throw new ArgumentException($"two base tensors are named '{w.Name}'");
    }

    public string? ActiveAdapter => _active?.AdapterName;

    /// <summary>Resolves each module to its base tensor (checking shapes), keeps the base values it covers and computes
    /// base + scale·ΔW there. Changes no weight. Must be called while no adapter is switched in.</summary>
    public Prepared Prepare(SparseAdapter adapter, float scale = 1f)
    {
        ArgumentNullException.ThrowIfNull(adapter);
        if (!float.IsFinite(scale)) throw new ArgumentException("scale must be finite", nameof(scale));
        if (_active != null) throw new InvalidOperationException($"adapter '{_active.AdapterName}' is switched in; prepare others against the clean base");
        var slots = new List<Slot>();
        foreach (var m in adapter.Modules)
        {
            var target = Find(m.Name);
            if (target.Rows != m.Rows || target.Cols != m.Cols)
                throw new ArgumentException($"module '{m.Name}' is {m.Rows}x{m.Cols} but base tensor '{target.Name}' is {target.Rows}x{target.Cols}");
            var runs = DeltaRuns.From(m, scale);
            int size = target.DType.Size();
            var kept = new byte[(long)runs.Count * size];
            var switched = new byte[kept.Length];
            DeltaKernels.Gather(target.Data, size, runs, kept);
            DeltaKernels.AddCompact(kept, target.DType, runs.Values, switched);
            slots.Add(new Slot(target, runs, kept, switched));
        }
        return new Prepared(this, adapter.Name, slots);
    }

    public void SwitchIn(SparseAdapter adapter, float scale = 1f) => SwitchIn(Prepare(adapter, scale));

    /// <summary>W ← W + ΔW at the adapter's weights (only there).</summary>
    public void SwitchIn(Prepared prepared)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        if (!ReferenceEquals(prepared.Owner, this)) throw new ArgumentException($"adapter '{prepared.AdapterName}' was prepared by another switcher");
        if (_active != null) throw new InvalidOperationException($"adapter '{_active.AdapterName}' is switched in; switch it out first");
        foreach (var s in prepared.Modules) DeltaKernels.Scatter(s.Target.Data, s.Target.DType.Size(), s.Runs, s.Switched);
        _active = prepared;
    }

    /// <summary>Puts the kept base values back: the weights are bit for bit what they were before the switch in.</summary>
    public void SwitchOut()
    {
        if (_active == null) throw new InvalidOperationException("no adapter is switched in");
        foreach (var s in _active.Modules) DeltaKernels.Scatter(s.Target.Data, s.Target.DType.Size(), s.Runs, s.Base);
        _active = null;
    }

    private DenseTensor Find(string module)
    {
        var tensor = Peft.PeftKeys.BaseWeight(module);
        if (_weights.TryGetValue(module, out var t) || _weights.TryGetValue(tensor, out t)) return t;
        throw new KeyNotFoundException($"no base weight for module '{module}' (looked for '{module}' and '{tensor}')");
    }
}

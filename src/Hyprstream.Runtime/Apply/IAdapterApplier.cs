using Hyprstream.Runtime.Snapshots;
namespace Hyprstream.Runtime.Apply;

/// <summary>
/// The read path of inference: the three adapter operations over an <see cref="AdapterSnapshot"/>. Every operation uses
/// the effective delta (module scale × stored weight) times the caller's <c>scale</c>. All matrices are row-major.
/// The CPU implementation defines the results; others agree with it within float tolerance.
/// </summary>
public interface IAdapterApplier : IDisposable
{
    ApplyBackend Kind { get; }
    /// <summary>Which device runs the kernels, in words.</summary>
    string Device { get; }

    /// <summary>Sparse GEMM: y[batch × rows] += scale · x[batch × cols] · ΔWᵀ.</summary>
    void Gemm(AdapterSnapshot snapshot, string module, ReadOnlySpan<float> x, Span<float> y, int batch, float scale = 1f);

    /// <summary>
    /// Mixed batch (as Punica's SGMV for LoRA): rows segmentOffsets[i] … segmentOffsets[i+1]−1 of x use snapshots[i]'s
    /// module of that name; all of them must have the same shape. One call serves many adapters.
    /// </summary>
    void GemmMixed(IReadOnlyList<AdapterSnapshot> snapshots, ReadOnlySpan<int> segmentOffsets, string module,
                   ReadOnlySpan<float> x, Span<float> y, float scale = 1f);

    /// <summary>Switch in/out: w[rows × cols] += scale · ΔW (scale −1 takes a switched-in adapter out again).</summary>
    void Scatter(AdapterSnapshot snapshot, string module, Span<float> weights, float scale = 1f);
    /// <summary>Scatter into fp16 base weights (each touched weight is rounded back to half).</summary>
    void Scatter(AdapterSnapshot snapshot, string module, Span<Half> weights, float scale = 1f);
    /// <summary>Scatter into bf16 base weights given as raw bits (rounded to nearest even).</summary>
    void ScatterBf16(AdapterSnapshot snapshot, string module, Span<ushort> weights, float scale = 1f);

    /// <summary>Stored weights at (rows[i], cols[i]) (0 where nothing is stored), not scaled.</summary>
    void Lookup(AdapterSnapshot snapshot, string module, ReadOnlySpan<int> rows, ReadOnlySpan<int> cols, Span<float> values);

    /// <summary>
    /// Drops whatever the backend keeps for the snapshot beyond the snapshot itself (the CUDA backend: its device copy),
    /// e.g. when the snapshot tier retires it. Never frees anything a launch plan still uses: such a copy goes when the
    /// last plan is disposed. The snapshot stays usable (a later call rebuilds what it needs). Unknown snapshots are
    /// ignored.
    /// </summary>
    void Evict(AdapterSnapshot snapshot);
}

using Hyprstream.Runtime.Snapshots;
namespace Hyprstream.Runtime.Apply;

/// <summary>
/// The CUDA backend: runs the PTX kernels (native/kernels/apply.cu) on device 0's primary context, over snapshots
/// uploaded once (the NanoVDB buffer as is, plus the slot-ordered leaf index list) and kept until evicted or collected.
/// The span methods copy their inputs to the device and results back (for tests and simple callers); the
/// device-resident methods (plans, <see cref="DeviceBuffer"/>s) only enqueue work on the backend's stream, and
/// <see cref="Synchronize"/> waits for it. Calls are serialized on one stream. Device buffers, timing and the dense
/// baseline are in <see cref="CudaDiagnostics"/>.
/// <para>The lease rule: a plan (<see cref="GemmPlan"/>, <see cref="SwitchPlan"/>) holds a lease on every device copy it
/// points to; <see cref="Evict"/> of a leased copy takes it out of the cache at once but frees it when the last plan
/// using it is disposed.</para>
/// </summary>
public sealed class CudaApplier : IAdapterApplier
{
    private const int GemmThreads = 256, ScatterThreads = 512, LookupThreads = 256;
    private readonly CudaDevice _gpu;
    private readonly DeviceCopies<AdapterSnapshot, DeviceSnapshot> _resident = new(ds => ds.Free());

    internal sealed class DeviceSnapshot(Interop.Cuda.CudaMemoryHandle grid, Interop.Cuda.CudaMemoryHandle? leaves)
    {
        public ulong Grid => grid.Pointer;
        public ulong LeafList(SnapshotModule m) => leaves == null ? 0 : leaves.Pointer + (ulong)m.LeafStart * 4;
        public void Free() { grid.Dispose(); leaves?.Dispose(); }
    }

    /// <summary>On the first of <paramref name="images"/> that loads (<see cref="CudaProbe.Images"/>: fatbin, then PTX).</summary>
    public CudaApplier(IReadOnlyList<KernelImage> images) => _gpu = new CudaDevice(images);

    /// <summary>On one kernel image file: PTX, fatbin or cubin.</summary>
    public CudaApplier(string imagePath) : this([KernelImage.Open(imagePath)]) { }

    public ApplyBackend Kind => ApplyBackend.Cuda;
    public string Device => _gpu.Description;
    /// <summary>Which kernel image runs (fatbin or PTX), and why images before it were not used.</summary>
    public string Kernels => _gpu.Kernels;
    internal CudaDevice Gpu => _gpu;

    // ---- span API (host memory in and out) ----

    public void Gemm(AdapterSnapshot snapshot, string module, ReadOnlySpan<float> x, Span<float> y, int batch, float scale = 1f)
    {
        var m = ApplyChecks.Gemm(snapshot, module, x.Length, y.Length, batch, scale);
        GemmHost([snapshot], [m], [0, batch], x, y, scale);
    }

    public void GemmMixed(IReadOnlyList<AdapterSnapshot> snapshots, ReadOnlySpan<int> segmentOffsets, string module,
                          ReadOnlySpan<float> x, Span<float> y, float scale = 1f)
    {
        var mods = ApplyChecks.Mixed(snapshots, segmentOffsets, module, x.Length, y.Length, scale);
        SamePrecision(snapshots);
        GemmHost(snapshots, mods, segmentOffsets.ToArray(), x, y, scale);
    }

    private static void SamePrecision(IReadOnlyList<AdapterSnapshot> snapshots)
    {
        if (snapshots.Any(s => s.Precision != snapshots[0].Precision))
            throw new ArgumentException("one mixed-batch launch needs snapshots of one precision (float32 or fp16)");
    }

    private void GemmHost(IReadOnlyList<AdapterSnapshot> snaps, SnapshotModule[] mods, int[] offsets, ReadOnlySpan<float> x, Span<float> y, float scale)
    {
        using var timed = ApplyMetrics.Time(ApplyMetrics.Gemm, "cuda");
        lock (_gpu.Gate)
        {
            _gpu.MakeCurrent();
            using var dx = _gpu.Upload(x);
            using var dy = _gpu.Upload<float>(y);
            using var plan = PlanGemm(snaps, mods, offsets, scale);
            GemmDevice(plan, dx.Pointer, dy.Pointer);
            _gpu.Sync();
            _gpu.Download(dy.Pointer, y);
        }
    }

    public void Scatter(AdapterSnapshot snapshot, string module, Span<float> weights, float scale = 1f) =>
        ScatterHost(snapshot, module, weights, BaseWeightType.Float32, scale);

    public void Scatter(AdapterSnapshot snapshot, string module, Span<Half> weights, float scale = 1f) =>
        ScatterHost(snapshot, module, weights, BaseWeightType.Fp16, scale);

    public void ScatterBf16(AdapterSnapshot snapshot, string module, Span<ushort> weights, float scale = 1f) =>
        ScatterHost(snapshot, module, weights, BaseWeightType.Bf16, scale);

    private void ScatterHost<T>(AdapterSnapshot snapshot, string module, Span<T> weights, BaseWeightType type, float scale) where T : unmanaged
    {
        using var timed = ApplyMetrics.Time(ApplyMetrics.Scatter, "cuda");
        var m = ApplyChecks.Scatter(snapshot, module, weights.Length, scale);
        lock (_gpu.Gate)
        {
            _gpu.MakeCurrent();
            using var dw = _gpu.Upload<T>(weights);
            ScatterDevice(snapshot, m, dw.Pointer, type, scale);
            _gpu.Sync();
            _gpu.Download(dw.Pointer, weights);
        }
    }

    public void Lookup(AdapterSnapshot snapshot, string module, ReadOnlySpan<int> rows, ReadOnlySpan<int> cols, Span<float> values)
    {
        var m = ApplyChecks.Lookup(snapshot, module, rows, cols, values.Length);
        if (rows.Length == 0) return;
        lock (_gpu.Gate)
        {
            _gpu.MakeCurrent();
            using var use = snapshot.Use();
            using var copy = Lease(snapshot);
            using var dr = _gpu.Upload(rows);
            using var dc = _gpu.Upload(cols);
            using var dv = _gpu.Alloc((long)values.Length * 4);
            _gpu.Launch(Suffixed("hs_lookup", snapshot), (uint)((rows.Length + LookupThreads - 1) / LookupThreads), 1, LookupThreads,
            [
                KernelArg.Ptr(copy.Copy.Grid), KernelArg.I64(m.SlotBase), KernelArg.I32(m.Cols), KernelArg.Ptr(dr.Pointer),
                KernelArg.Ptr(dc.Pointer), KernelArg.Ptr(dv.Pointer), KernelArg.I32(rows.Length),
            ]);
            _gpu.Sync();
            _gpu.Download(dv.Pointer, values);
        }
    }

    // ---- snapshot residency ----

    /// <summary>Uploads the snapshot's device copy now (≈ the adapter switch-in transfer) rather than on first use.</summary>
    public void MakeResident(AdapterSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        lock (_gpu.Gate)
        {
            _gpu.MakeCurrent();
            Lease(snapshot).Dispose();
        }
    }

    /// <summary>Whether the snapshot has a device copy in the cache (one evicted but still leased by a plan does not count).</summary>
    public bool IsResident(AdapterSnapshot snapshot) => _resident.Contains(snapshot);

    /// <summary>
    /// Drops the snapshot's device copy from the cache: freed now, or, while a plan still points to it, when the last
    /// such plan is disposed (it is freed anyway when the snapshot is collected). The next use uploads it again.
    /// </summary>
    public void Evict(AdapterSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        lock (_gpu.Gate) _resident.Evict(snapshot);  // the memory handles make their context current to free
    }

    /// <summary>A lease on the snapshot's device copy, uploaded on first use (callers hold the gate, context current).</summary>
    internal DeviceCopies<AdapterSnapshot, DeviceSnapshot>.DeviceCopyLease Lease(AdapterSnapshot snapshot) => _resident.Acquire(snapshot, Upload);

    private DeviceSnapshot Upload(AdapterSnapshot snapshot)
    {
        using var use = snapshot.Use();
        var grid = _gpu.Alloc(snapshot.ByteSize);
        try
        {
            unsafe
            {
                Interop.Cuda.CudaStatus.Check(Interop.Cuda.Cu.cuMemcpyHtoD_v2(grid.Pointer, snapshot.Data, (nuint)snapshot.ByteSize), "cuMemcpyHtoD_v2");
            }
            var leaves = snapshot.LeafCount == 0 ? null : _gpu.Upload(snapshot.LeafIndices);
            return new DeviceSnapshot(grid, leaves);
        }
        catch { grid.Dispose(); throw; }
    }

    // ---- device-resident API (enqueue on the stream; no synchronization) ----

    /// <summary>Plans a mixed-batch sparse GEMM (the arguments of <see cref="GemmMixed"/>, without x and y).</summary>
    public GemmPlan PlanGemm(IReadOnlyList<AdapterSnapshot> snapshots, ReadOnlySpan<int> segmentOffsets, string module, float scale = 1f)
    {
        int batch = segmentOffsets.Length > 0 ? segmentOffsets[^1] : 0;
        ArgumentNullException.ThrowIfNull(snapshots);
        if (snapshots.Count == 0) throw new ArgumentException("at least one snapshot is required");
        var first = snapshots[0]?[module] ?? throw new ArgumentNullException($"{nameof(snapshots)}[0]");
        var mods = ApplyChecks.Mixed(snapshots, segmentOffsets, module, (int)Math.Min(int.MaxValue, (long)batch * first.Cols),
                                     (int)Math.Min(int.MaxValue, (long)batch * first.Rows), scale);
        SamePrecision(snapshots);
        lock (_gpu.Gate)
        {
            _gpu.MakeCurrent();
            return PlanGemm(snapshots, mods, segmentOffsets.ToArray(), scale);
        }
    }

    internal GemmPlan PlanGemm(IReadOnlyList<AdapterSnapshot> snaps, SnapshotModule[] mods, int[] offsets, float scale)
    {
        int n = snaps.Count;
        var grids = new ulong[n]; var lists = new ulong[n]; var counts = new int[n]; var bases = new long[n]; var scales = new float[n];
        var plan = new GemmPlan
        {
            Kernel = Suffixed("hs_sgemm", snaps[0]), Segments = (uint)n, MaxTiles = mods.Max(m => m.LeafCount),
            Rows = mods[0].Rows, Cols = mods[0].Cols, Batch = offsets[^1],
        };
        try
        {
            for (int i = 0; i < n; i++)
            {
                plan.Own(snaps[i].Use());
                var ds = plan.Own(Lease(snaps[i])).Copy;
                grids[i] = ds.Grid; lists[i] = ds.LeafList(mods[i]); counts[i] = mods[i].LeafCount;
                bases[i] = mods[i].SlotBase; scales[i] = scale * mods[i].Scale;
            }
            plan.Grids = plan.Own(_gpu.Upload<ulong>(grids)).Pointer;
            plan.Lists = plan.Own(_gpu.Upload<ulong>(lists)).Pointer;
            plan.Counts = plan.Own(_gpu.Upload<int>(counts)).Pointer;
            plan.Bases = plan.Own(_gpu.Upload<long>(bases)).Pointer;
            plan.Scales = plan.Own(_gpu.Upload<float>(scales)).Pointer;
            plan.Offsets = plan.Own(_gpu.Upload<int>(offsets)).Pointer;
            return plan;
        }
        catch { plan.Dispose(); throw; }
    }

    /// <summary>Enqueues a planned sparse GEMM: y[batch × rows] += x[batch × cols] · ΔWᵀ (float32 device buffers).</summary>
    public void Gemm(GemmPlan plan, DeviceBuffer x, DeviceBuffer y)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ulong px = x.At((long)plan.Batch * plan.Cols * 4, "x"), py = y.At((long)plan.Batch * plan.Rows * 4, "y");
        lock (_gpu.Gate)
        {
            _gpu.MakeCurrent();
            GemmDevice(plan, px, py);
        }
    }

    internal void GemmDevice(GemmPlan plan, ulong x, ulong y)
    {
        plan.ThrowIfDisposed();
        if (plan.MaxTiles == 0) return;
        _gpu.Launch(plan.Kernel, (uint)Math.Min(plan.MaxTiles, 65535), plan.Segments, GemmThreads,
        [
            KernelArg.Ptr(plan.Grids), KernelArg.Ptr(plan.Lists), KernelArg.Ptr(plan.Counts), KernelArg.Ptr(plan.Bases),
            KernelArg.Ptr(plan.Scales), KernelArg.Ptr(plan.Offsets), KernelArg.I32(plan.Rows), KernelArg.I32(plan.Cols),
            KernelArg.Ptr(x), KernelArg.Ptr(y),
        ]);
    }

    /// <summary>Enqueues w[rows × cols] += scale · ΔW of one module into a device buffer of base weights.</summary>
    public void Scatter(AdapterSnapshot snapshot, string module, DeviceBuffer weights, BaseWeightType type, float scale = 1f)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var s = snapshot[module];
        var m = ApplyChecks.Scatter(snapshot, module, checked(s.Rows * s.Cols), scale);
        ulong w = weights.At((long)m.Rows * m.Cols * ElementBytes(type), "weights");
        lock (_gpu.Gate)
        {
            _gpu.MakeCurrent();
            ScatterDevice(snapshot, m, w, type, scale);
        }
    }

    internal void ScatterDevice(AdapterSnapshot snapshot, SnapshotModule m, ulong w, BaseWeightType type, float scale)
    {
        if (m.LeafCount == 0) return;
        using var use = snapshot.Use();
        using var copy = Lease(snapshot);
        var ds = copy.Copy;
        _gpu.Launch($"hs_scatter_{TypeName(type)}_{BuildName(snapshot)}", (uint)Math.Min(m.LeafCount, 1 << 20), 1, ScatterThreads,
        [
            KernelArg.Ptr(ds.Grid), KernelArg.Ptr(ds.LeafList(m)), KernelArg.I32(m.LeafCount), KernelArg.I64(m.SlotBase),
            KernelArg.I32(m.Rows), KernelArg.I32(m.Cols), KernelArg.F32(scale * m.Scale), KernelArg.Ptr(w),
        ]);
    }

    /// <summary>
    /// Plans switching <paramref name="modules"/> of the snapshot into base weights: <paramref name="weights"/>[i] holds
    /// module i's rows × cols weights of <paramref name="type"/> (distinct buffers, kept alive by the caller).
    /// </summary>
    public SwitchPlan PlanSwitch(AdapterSnapshot snapshot, IReadOnlyList<string> modules, IReadOnlyList<DeviceBuffer> weights, BaseWeightType type, float scale = 1f)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(modules);
        ArgumentNullException.ThrowIfNull(weights);
        if (modules.Count != weights.Count || modules.Count == 0 || modules.Count > 65535) throw new ArgumentException("one weight buffer per module (1..65535)");
        var mods = new SnapshotModule[modules.Count];
        var pointers = new ulong[modules.Count];
        for (int i = 0; i < mods.Length; i++)
        {
            var s = snapshot[modules[i]];
            mods[i] = ApplyChecks.Scatter(snapshot, modules[i], checked(s.Rows * s.Cols), scale);
            pointers[i] = weights[i].At((long)s.Rows * s.Cols * ElementBytes(type), $"weights[{i}]");
        }
        lock (_gpu.Gate)
        {
            _gpu.MakeCurrent();
            return PlanSwitch(snapshot, mods, pointers, type, scale);
        }
    }

    internal SwitchPlan PlanSwitch(AdapterSnapshot snapshot, IReadOnlyList<SnapshotModule> modules, IReadOnlyList<ulong> weights, BaseWeightType type, float scale)
    {
        if (modules.Count != weights.Count || modules.Count == 0 || modules.Count > 65535) throw new ArgumentException("one weight array per module (1..65535)");
        var plan = new SwitchPlan
        {
            Kernel = $"hs_scatter_many_{TypeName(type)}_{BuildName(snapshot)}",
            Modules = (uint)modules.Count, MaxTiles = modules.Max(m => m.LeafCount),
        };
        try
        {
            plan.Own(snapshot.Use());
            var ds = plan.Own(Lease(snapshot)).Copy;
            plan.Grid = ds.Grid;
            plan.Lists = plan.Own(_gpu.Upload<ulong>(modules.Select(ds.LeafList).ToArray())).Pointer;
            plan.Counts = plan.Own(_gpu.Upload<int>(modules.Select(m => m.LeafCount).ToArray())).Pointer;
            plan.Bases = plan.Own(_gpu.Upload<long>(modules.Select(m => m.SlotBase).ToArray())).Pointer;
            plan.Rows = plan.Own(_gpu.Upload<int>(modules.Select(m => m.Rows).ToArray())).Pointer;
            plan.Cols = plan.Own(_gpu.Upload<int>(modules.Select(m => m.Cols).ToArray())).Pointer;
            plan.Scales = plan.Own(_gpu.Upload<float>(modules.Select(m => scale * m.Scale).ToArray())).Pointer;
            plan.Weights = plan.Own(_gpu.Upload<ulong>(weights.ToArray())).Pointer;
            return plan;
        }
        catch { plan.Dispose(); throw; }
    }

    /// <summary>Enqueues a planned whole-adapter switch (one launch).</summary>
    public void Switch(SwitchPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        lock (_gpu.Gate)
        {
            _gpu.MakeCurrent();
            ScatterManyDevice(plan);
        }
    }

    internal void ScatterManyDevice(SwitchPlan plan)
    {
        plan.ThrowIfDisposed();
        if (plan.MaxTiles == 0) return;
        _gpu.Launch(plan.Kernel, (uint)Math.Min(plan.MaxTiles, 1 << 16), plan.Modules, ScatterThreads,
        [
            KernelArg.Ptr(plan.Grid), KernelArg.Ptr(plan.Lists), KernelArg.Ptr(plan.Counts), KernelArg.Ptr(plan.Bases),
            KernelArg.Ptr(plan.Rows), KernelArg.Ptr(plan.Cols), KernelArg.Ptr(plan.Scales), KernelArg.Ptr(plan.Weights),
        ]);
    }

    /// <summary>Waits until everything enqueued on the backend's stream has finished.</summary>
    public void Synchronize()
    {
        lock (_gpu.Gate)
        {
            _gpu.MakeCurrent();
            _gpu.Sync();
        }
    }

    private static string Suffixed(string kernel, AdapterSnapshot s) => $"{kernel}_{BuildName(s)}";
    private static string BuildName(AdapterSnapshot s) => s.Precision == SnapshotPrecision.Fp16 ? "q16" : "f32";
    private static string TypeName(BaseWeightType t) => t switch
    {
        BaseWeightType.Float32 => "f32", BaseWeightType.Fp16 => "f16", BaseWeightType.Bf16 => "bf16",
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "unknown base weight type"),
    };
    private static int ElementBytes(BaseWeightType t) => t == BaseWeightType.Float32 ? 4 : 2;

    public void Dispose() => _gpu.Dispose();
}

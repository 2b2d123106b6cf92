using System.Runtime.CompilerServices;
using Hyprstream.Interop.Cuda;

namespace Hyprstream.Runtime;

/// <summary>
/// The CUDA backend: runs the PTX kernels (native/kernels/apply.cu) on device 0's primary context, over snapshots
/// uploaded once (the NanoVDB buffer as is, plus the slot-ordered leaf index list) and kept while the snapshot lives.
/// The span methods copy their inputs to the device and results back (for tests and simple callers); the bench
/// uses the device-resident methods. Calls are serialized on one stream.
/// </summary>
public sealed unsafe class CudaApplier : IAdapterApplier
{
    private const int GemmThreads = 256, ScatterThreads = 512, LookupThreads = 256;
    private readonly object _gate = new();
    private readonly CudaContextHandle _context;
    private readonly CudaModuleHandle _module;
    private readonly CudaStreamHandle _stream;
    private readonly Dictionary<string, nint> _functions = new(StringComparer.Ordinal);
    private readonly ConditionalWeakTable<AdapterSnapshot, DeviceSnapshot> _resident = new();
    private bool _disposed;

    internal sealed class DeviceSnapshot(CudaMemoryHandle grid, CudaMemoryHandle? leaves)
    {
        public CudaMemoryHandle Grid { get; } = grid;
        public CudaMemoryHandle? Leaves { get; } = leaves;
        public ulong LeafList(SnapshotModule m) => Leaves == null ? 0 : Leaves.Pointer + (ulong)m.LeafStart * 4;
    }

    public CudaApplier(string ptxPath)
    {
        CudaStatus.Check(Cu.cuInit(0), "cuInit");
        CudaStatus.Check(Cu.cuDeviceGet(out int dev, 0), "cuDeviceGet");
        Device = CudaProbe.DescribeDevice(0);
        _context = CudaContextHandle.Retain(dev);
        MakeCurrent();
        var ptx = File.ReadAllBytes(ptxPath);
        Array.Resize(ref ptx, ptx.Length + 1);  // cuModuleLoadData wants NUL-terminated PTX text
        _module = new CudaModuleHandle(_context);
        fixed (byte* p = ptx)
        {
            CudaStatus.Check(Cu.cuModuleLoadData(out var mod, p), $"cuModuleLoadData({ptxPath})");
            _module.Set(mod);
        }
        foreach (var name in new[] { "hs_sgemm_f32", "hs_sgemm_q16", "hs_lookup_f32", "hs_lookup_q16", "hs_dense_gemm_f32",
                                     "hs_scatter_f32_f32", "hs_scatter_f16_f32", "hs_scatter_bf16_f32",
                                     "hs_scatter_f32_q16", "hs_scatter_f16_q16", "hs_scatter_bf16_q16",
                                     "hs_scatter_many_f32_f32", "hs_scatter_many_f16_f32", "hs_scatter_many_bf16_f32",
                                     "hs_scatter_many_f32_q16", "hs_scatter_many_f16_q16", "hs_scatter_many_bf16_q16" })
        {
            CudaStatus.Check(Cu.cuModuleGetFunction(out var fn, _module.DangerousGetHandle(), name), $"cuModuleGetFunction({name})");
            _functions[name] = fn;
        }
        // A blocking stream on purpose: it waits for the synchronous cuMemcpy*_v2 calls on the legacy default
        // stream (a pageable host-to-device copy may return before its DMA has landed).
        _stream = new CudaStreamHandle(_context);
        CudaStatus.Check(Cu.cuStreamCreate(out var stream, Cu.CU_STREAM_DEFAULT), "cuStreamCreate");
        _stream.Set(stream);
    }

    public ApplyBackend Kind => ApplyBackend.Cuda;
    public string Device { get; }

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
        if (snapshots.Any(s => s.Precision != snapshots[0].Precision))
            throw new ArgumentException("one mixed-batch launch needs snapshots of one precision (float32 or fp16)");
        GemmHost(snapshots, mods, segmentOffsets.ToArray(), x, y, scale);
    }

    private void GemmHost(IReadOnlyList<AdapterSnapshot> snaps, SnapshotModule[] mods, int[] offsets, ReadOnlySpan<float> x, Span<float> y, float scale)
    {
        lock (_gate)
        {
            MakeCurrent();
            using var dx = Upload(x);
            using var dy = Upload<float>(y);
            using var plan = PlanGemm(snaps, mods, offsets, scale);
            GemmDevice(plan, dx.Pointer, dy.Pointer);
            Sync();
            Download(dy, y);
        }
    }

    public void Scatter(AdapterSnapshot snapshot, string module, Span<float> weights, float scale = 1f) =>
        ScatterHost(snapshot, module, weights, "f32", scale);

    public void Scatter(AdapterSnapshot snapshot, string module, Span<Half> weights, float scale = 1f) =>
        ScatterHost(snapshot, module, weights, "f16", scale);

    public void ScatterBf16(AdapterSnapshot snapshot, string module, Span<ushort> weights, float scale = 1f) =>
        ScatterHost(snapshot, module, weights, "bf16", scale);

    private void ScatterHost<T>(AdapterSnapshot snapshot, string module, Span<T> weights, string type, float scale) where T : unmanaged
    {
        var m = ApplyChecks.Scatter(snapshot, module, weights.Length, scale);
        lock (_gate)
        {
            MakeCurrent();
            using var dw = Upload<T>(weights);
            ScatterDevice(snapshot, m, dw.Pointer, type, scale);
            Sync();
            Download(dw, weights);
        }
    }

    public void Lookup(AdapterSnapshot snapshot, string module, ReadOnlySpan<int> rows, ReadOnlySpan<int> cols, Span<float> values)
    {
        var m = ApplyChecks.Lookup(snapshot, module, rows, cols, values.Length);
        if (rows.Length == 0) return;
        lock (_gate)
        {
            MakeCurrent();
            using var use = snapshot.Use();
            var ds = Resident(snapshot);
            using var dr = Upload(rows);
            using var dc = Upload(cols);
            using var dv = Alloc((long)values.Length * 4);
            ulong* a = stackalloc ulong[7] { ds.Grid.Pointer, (ulong)m.SlotBase, (uint)m.Cols, dr.Pointer, dc.Pointer, dv.Pointer, (uint)rows.Length };
            Launch(Suffixed("hs_lookup", snapshot), (uint)((rows.Length + LookupThreads - 1) / LookupThreads), 1, LookupThreads, a, 7);
            Sync();
            Download(dv, values);
        }
    }

    // ---- device-resident API (pointers are device memory; callers hold the gate through these being internal) ----

    /// <summary>
    /// The device-side argument arrays of one sparse GEMM launch (per segment: grid, leaf list, tile count, first slot,
    /// scale; and the segment offsets). Made once and launched many times; keeps the snapshots' buffers alive.
    /// </summary>
    internal sealed class GemmPlan : IDisposable
    {
        private readonly List<IDisposable> _owned = new();
        public required string Kernel { get; init; }
        public required uint Segments { get; init; }
        public required int MaxTiles { get; init; }
        public required int Rows { get; init; }
        public required int Cols { get; init; }
        public ulong Grids, Lists, Counts, Bases, Scales, Offsets;
        public T Own<T>(T d) where T : IDisposable { _owned.Add(d); return d; }
        public void Dispose() { foreach (var d in _owned) d.Dispose(); _owned.Clear(); }
    }

    internal GemmPlan PlanGemm(IReadOnlyList<AdapterSnapshot> snaps, SnapshotModule[] mods, int[] offsets, float scale)
    {
        int n = snaps.Count;
        var grids = new ulong[n]; var lists = new ulong[n]; var counts = new int[n]; var bases = new long[n]; var scales = new float[n];
        var plan = new GemmPlan { Kernel = Suffixed("hs_sgemm", snaps[0]), Segments = (uint)n, MaxTiles = mods.Max(m => m.LeafCount), Rows = mods[0].Rows, Cols = mods[0].Cols };
        try
        {
            for (int i = 0; i < n; i++)
            {
                plan.Own(snaps[i].Use());
                var ds = Resident(snaps[i]);
                grids[i] = ds.Grid.Pointer; lists[i] = ds.LeafList(mods[i]); counts[i] = mods[i].LeafCount;
                bases[i] = mods[i].SlotBase; scales[i] = scale * mods[i].Scale;
            }
            plan.Grids = plan.Own(Upload<ulong>(grids)).Pointer;
            plan.Lists = plan.Own(Upload<ulong>(lists)).Pointer;
            plan.Counts = plan.Own(Upload<int>(counts)).Pointer;
            plan.Bases = plan.Own(Upload<long>(bases)).Pointer;
            plan.Scales = plan.Own(Upload<float>(scales)).Pointer;
            plan.Offsets = plan.Own(Upload<int>(offsets)).Pointer;
            return plan;
        }
        catch { plan.Dispose(); throw; }
    }

    /// <summary>Launches a planned sparse GEMM on the stream (no synchronization).</summary>
    internal void GemmDevice(GemmPlan plan, ulong x, ulong y)
    {
        if (plan.MaxTiles == 0) return;
        ulong* a = stackalloc ulong[10] { plan.Grids, plan.Lists, plan.Counts, plan.Bases, plan.Scales, plan.Offsets, (uint)plan.Rows, (uint)plan.Cols, x, y };
        Launch(plan.Kernel, (uint)Math.Min(plan.MaxTiles, 65535), plan.Segments, GemmThreads, a, 10);
    }

    /// <summary>Launches a scatter on the stream (no synchronization: a whole adapter is many launches, one wait).</summary>
    internal void ScatterDevice(AdapterSnapshot snapshot, SnapshotModule m, ulong w, string type, float scale)
    {
        if (m.LeafCount == 0) return;
        using var use = snapshot.Use();
        var ds = Resident(snapshot);
        ulong* a = stackalloc ulong[8] { ds.Grid.Pointer, ds.LeafList(m), (uint)m.LeafCount, (ulong)m.SlotBase, (uint)m.Rows, (uint)m.Cols,
                                         BitConverter.SingleToUInt32Bits(scale * m.Scale), w };
        Launch($"hs_scatter_{type}_{(snapshot.Precision == SnapshotPrecision.Fp16 ? "q16" : "f32")}", (uint)Math.Min(m.LeafCount, 1 << 20), 1, ScatterThreads, a, 8);
    }

    /// <summary>Device arguments of a whole-adapter switch: per module its leaf list, tile count, first slot, shape,
    /// scale and base-weight array (device pointers, distinct per module). One launch applies them all.</summary>
    internal sealed class SwitchPlan : IDisposable
    {
        private readonly List<IDisposable> _owned = new();
        public required string Kernel { get; init; }
        public required uint Modules { get; init; }
        public required int MaxTiles { get; init; }
        public required ulong Grid { get; init; }
        public ulong Lists, Counts, Bases, Rows, Cols, Scales, Weights;
        public T Own<T>(T d) where T : IDisposable { _owned.Add(d); return d; }
        public void Dispose() { foreach (var d in _owned) d.Dispose(); _owned.Clear(); }
    }

    internal SwitchPlan PlanSwitch(AdapterSnapshot snapshot, IReadOnlyList<SnapshotModule> modules, IReadOnlyList<ulong> weights, string type, float scale)
    {
        if (modules.Count != weights.Count || modules.Count == 0 || modules.Count > 65535) throw new ArgumentException("one weight array per module (1..65535)");
        var lease = snapshot.Use();
        var ds = Resident(snapshot);
        var plan = new SwitchPlan
        {
            Kernel = $"hs_scatter_many_{type}_{(snapshot.Precision == SnapshotPrecision.Fp16 ? "q16" : "f32")}",
            Modules = (uint)modules.Count, MaxTiles = modules.Max(m => m.LeafCount), Grid = ds.Grid.Pointer,
        };
        plan.Own(lease);
        try
        {
            plan.Lists = plan.Own(Upload<ulong>(modules.Select(ds.LeafList).ToArray())).Pointer;
            plan.Counts = plan.Own(Upload<int>(modules.Select(m => m.LeafCount).ToArray())).Pointer;
            plan.Bases = plan.Own(Upload<long>(modules.Select(m => m.SlotBase).ToArray())).Pointer;
            plan.Rows = plan.Own(Upload<int>(modules.Select(m => m.Rows).ToArray())).Pointer;
            plan.Cols = plan.Own(Upload<int>(modules.Select(m => m.Cols).ToArray())).Pointer;
            plan.Scales = plan.Own(Upload<float>(modules.Select(m => scale * m.Scale).ToArray())).Pointer;
            plan.Weights = plan.Own(Upload<ulong>(weights.ToArray())).Pointer;
            return plan;
        }
        catch { plan.Dispose(); throw; }
    }

    /// <summary>Launches a planned whole-adapter switch on the stream (no synchronization).</summary>
    internal void ScatterManyDevice(SwitchPlan plan)
    {
        if (plan.MaxTiles == 0) return;
        ulong* a = stackalloc ulong[8] { plan.Grid, plan.Lists, plan.Counts, plan.Bases, plan.Rows, plan.Cols, plan.Scales, plan.Weights };
        Launch(plan.Kernel, (uint)Math.Min(plan.MaxTiles, 1 << 16), plan.Modules, ScatterThreads, a, 8);
    }

    /// <summary>Dense baseline kernel: y[b × rows] = x[b × cols] · Wᵀ (device pointers; no synchronization).</summary>
    internal void DenseGemmDevice(ulong w, int rows, int cols, ulong x, int batch, ulong y)
    {
        long warps = (long)rows * batch;
        ulong* a = stackalloc ulong[6] { w, (uint)rows, (uint)cols, x, (uint)batch, y };
        Launch("hs_dense_gemm_f32", (uint)((warps * 32 + GemmThreads - 1) / GemmThreads), 1, GemmThreads, a, 6);
    }

    private CublasHandle? _cublas;
    private bool _cublasProbed;

    /// <summary>cuBLAS where libcublas can be loaded (the benchmark's dense baseline), else null.</summary>
    internal string? CublasDescription { get; private set; }

    internal bool HasCublas
    {
        get
        {
            if (_cublasProbed) return _cublas != null;
            _cublasProbed = true;
            if (!Cublas.TryLoad(out _)) return false;
            var h = new CublasHandle(_context);
            if (Cublas.cublasCreate_v2(out var handle) != 0) return false;
            h.Set(handle);
            if (Cublas.cublasSetStream_v2(handle, _stream.DangerousGetHandle()) != 0) { h.Dispose(); return false; }
            _cublas = h;
            CublasDescription = "cuBLAS sgemm";
            return true;
        }
    }

    /// <summary>Dense baseline through cuBLAS: y[b × rows] = x[b × cols] · Wᵀ, i.e. column-major Yᵀ = op_T(Wᵀ) · Xᵀ.</summary>
    internal void DenseGemmCublas(ulong w, int rows, int cols, ulong x, int batch, ulong y)
    {
        if (!HasCublas) throw new InvalidOperationException("cuBLAS is not available");
        float alpha = 1f, beta = 0f;
        int rc = Cublas.cublasSgemm_v2(_cublas!.DangerousGetHandle(), Cublas.CUBLAS_OP_T, Cublas.CUBLAS_OP_N, rows, batch, cols,
                                       &alpha, w, cols, x, cols, &beta, y, rows);
        if (rc != 0) throw new CudaException(rc, $"cublasSgemm_v2 failed with cublasStatus {rc}");
    }

    /// <summary>The snapshot's device copy, uploaded on first use (≈ the adapter switch-in transfer).</summary>
    internal DeviceSnapshot Resident(AdapterSnapshot snapshot)
    {
        if (_resident.TryGetValue(snapshot, out var ds)) return ds;
        using var use = snapshot.Use();
        var grid = Alloc(snapshot.ByteSize);
        CudaStatus.Check(Cu.cuMemcpyHtoD_v2(grid.Pointer, snapshot.Data, (nuint)snapshot.ByteSize), "cuMemcpyHtoD_v2");
        var leaves = snapshot.LeafCount == 0 ? null : Upload(snapshot.LeafIndices);
        ds = new DeviceSnapshot(grid, leaves);
        _resident.AddOrUpdate(snapshot, ds);
        return ds;
    }

    // Device buffers for callers above the Runtime (benchmarks), without exposing Interop handle types.
    internal DeviceBuffer AllocBuffer(long bytes) => new(Alloc(bytes));
    internal DeviceBuffer UploadBuffer<T>(ReadOnlySpan<T> data) where T : unmanaged => new(Upload(data));

    /// <summary>Frees a snapshot's device copy now (it is freed anyway when the snapshot is collected).</summary>
    public void Evict(AdapterSnapshot snapshot)
    {
        lock (_gate)
            if (_resident.TryGetValue(snapshot, out var ds))
            {
                _resident.Remove(snapshot);
                ds.Grid.Dispose();
                ds.Leaves?.Dispose();
            }
    }

    /// <summary>Runs <paramref name="work"/> between two events on the stream and returns the GPU milliseconds.</summary>
    internal float Time(Action work)
    {
        using var start = NewEvent();
        using var end = NewEvent();
        CudaStatus.Check(Cu.cuEventRecord(start.DangerousGetHandle(), _stream.DangerousGetHandle()), "cuEventRecord");
        work();
        CudaStatus.Check(Cu.cuEventRecord(end.DangerousGetHandle(), _stream.DangerousGetHandle()), "cuEventRecord");
        CudaStatus.Check(Cu.cuEventSynchronize(end.DangerousGetHandle()), "cuEventSynchronize");
        CudaStatus.Check(Cu.cuEventElapsedTime(out float ms, start.DangerousGetHandle(), end.DangerousGetHandle()), "cuEventElapsedTime");
        return ms;
    }

    internal object Gate => _gate;

    internal void MakeCurrent()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CudaStatus.Check(Cu.cuCtxSetCurrent(_context.DangerousGetHandle()), "cuCtxSetCurrent");
    }

    internal CudaMemoryHandle Alloc(long bytes)
    {
        var h = new CudaMemoryHandle(_context, bytes);
        CudaStatus.Check(Cu.cuMemAlloc_v2(out var p, (nuint)Math.Max(bytes, 4)), $"cuMemAlloc_v2({bytes} bytes)");
        h.Set((nint)p);
        return h;
    }

    internal CudaMemoryHandle Upload<T>(ReadOnlySpan<T> data) where T : unmanaged
    {
        var h = Alloc((long)data.Length * sizeof(T));
        if (data.Length > 0)
            fixed (T* p = data) CudaStatus.Check(Cu.cuMemcpyHtoD_v2(h.Pointer, p, (nuint)((long)data.Length * sizeof(T))), "cuMemcpyHtoD_v2");
        return h;
    }

    internal CudaMemoryHandle Upload<T>(Span<T> data) where T : unmanaged => Upload((ReadOnlySpan<T>)data);

    internal void Download<T>(CudaMemoryHandle src, Span<T> dst) where T : unmanaged
    {
        if (dst.Length == 0) return;
        fixed (T* p = dst) CudaStatus.Check(Cu.cuMemcpyDtoH_v2(p, src.Pointer, (nuint)((long)dst.Length * sizeof(T))), "cuMemcpyDtoH_v2");
    }

    private CudaEventHandle NewEvent()
    {
        var h = new CudaEventHandle(_context);
        CudaStatus.Check(Cu.cuEventCreate(out var ev, Cu.CU_EVENT_DEFAULT), "cuEventCreate");
        h.Set(ev);
        return h;
    }

    private static string Suffixed(string kernel, AdapterSnapshot s) => kernel + (s.Precision == SnapshotPrecision.Fp16 ? "_q16" : "_f32");

    // Every kernel argument sits in its own 8-byte slot (ints and floats in the low bytes, little endian).
    private void Launch(string name, uint gridX, uint gridY, uint block, ulong* args, int count)
    {
        void** p = stackalloc void*[count];
        for (int i = 0; i < count; i++) p[i] = args + i;
        CudaStatus.Check(Cu.cuLaunchKernel(_functions[name], gridX, gridY, 1, block, 1, 1, 0, _stream.DangerousGetHandle(), p, null), $"cuLaunchKernel({name})");
    }

    internal void Sync() => CudaStatus.Check(Cu.cuStreamSynchronize(_stream.DangerousGetHandle()), "cuStreamSynchronize");

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _cublas?.Dispose();
        _stream.Dispose();
        _module.Dispose();
        _context.Dispose();
    }
}

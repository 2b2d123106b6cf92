using Hyprstream.Interop.Cuda;

namespace Hyprstream.Runtime.Apply;

/// <summary>
/// Measuring the CUDA backend (the benchmark and self-test use it; inference does not need it): device buffers, GPU
/// time between events on the backend's stream, and a dense GEMM baseline (cuBLAS sgemm where libcublas loads, else
/// our own dense kernel). Shares the applier's context and stream, so it must not outlive it.
/// </summary>
public sealed unsafe class CudaDiagnostics : IDisposable
{
    private const int DenseThreads = 256;
    private readonly CudaDevice _gpu;
    private readonly CublasHandle? _cublas;

    public CudaDiagnostics(CudaApplier applier)
    {
        ArgumentNullException.ThrowIfNull(applier);
        _gpu = applier.Gpu;
        lock (_gpu.Gate)
        {
            _gpu.MakeCurrent();
            _cublas = TryCublas(_gpu);
        }
        DenseBaseline = _cublas != null ? "cuBLAS sgemm" : "own dense kernel (libcublas not found)";
    }

    private static CublasHandle? TryCublas(CudaDevice gpu)
    {
        if (!Cublas.TryLoad(out _)) return null;
        var h = new CublasHandle(gpu.Context);
        if (Cublas.cublasCreate_v2(out var handle) != 0) return null;
        h.Set(handle);
        if (Cublas.cublasSetStream_v2(handle, gpu.Stream) != 0) { h.Dispose(); return null; }
        return h;
    }

    /// <summary>True when <see cref="DenseGemm"/> runs cuBLAS.</summary>
    public bool HasCublas => _cublas != null;
    /// <summary>What <see cref="DenseGemm"/> runs, in words.</summary>
    public string DenseBaseline { get; }

    /// <summary>Uninitialized device memory.</summary>
    public DeviceBuffer Allocate(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        lock (_gpu.Gate) { _gpu.MakeCurrent(); return new DeviceBuffer(_gpu.Alloc(bytes)); }
    }

    /// <summary>A device copy of <paramref name="data"/>.</summary>
    public DeviceBuffer Upload<T>(ReadOnlySpan<T> data) where T : unmanaged
    {
        lock (_gpu.Gate) { _gpu.MakeCurrent(); return new DeviceBuffer(_gpu.Upload(data)); }
    }

    /// <summary>Copies the start of a buffer back to the host (waits for the stream first).</summary>
    public void Download<T>(DeviceBuffer source, Span<T> destination) where T : unmanaged
    {
        ulong p = source.At((long)destination.Length * sizeof(T), "the copy");
        lock (_gpu.Gate) { _gpu.MakeCurrent(); _gpu.Sync(); _gpu.Download(p, destination); }
    }

    /// <summary>Runs <paramref name="work"/> (which enqueues on the backend's stream) between two events; the GPU milliseconds.</summary>
    public float Time(Action work)
    {
        ArgumentNullException.ThrowIfNull(work);
        lock (_gpu.Gate)
        {
            _gpu.MakeCurrent();
            using var start = _gpu.NewEvent();
            using var end = _gpu.NewEvent();
            CudaStatus.Check(Cu.cuEventRecord(start.DangerousGetHandle(), _gpu.Stream), "cuEventRecord");
            work();
            CudaStatus.Check(Cu.cuEventRecord(end.DangerousGetHandle(), _gpu.Stream), "cuEventRecord");
            CudaStatus.Check(Cu.cuEventSynchronize(end.DangerousGetHandle()), "cuEventSynchronize");
            CudaStatus.Check(Cu.cuEventElapsedTime(out float ms, start.DangerousGetHandle(), end.DangerousGetHandle()), "cuEventElapsedTime");
            return ms;
        }
    }

    /// <summary>Waits until everything enqueued on the backend's stream has finished.</summary>
    public void Synchronize()
    {
        lock (_gpu.Gate) { _gpu.MakeCurrent(); _gpu.Sync(); }
    }

    /// <summary>
    /// Enqueues the dense baseline y[batch × rows] = x[batch × cols] · Wᵀ (float32, W row-major rows × cols) with
    /// <see cref="DenseBaseline"/>.
    /// </summary>
    public void DenseGemm(DeviceBuffer w, int rows, int cols, DeviceBuffer x, int batch, DeviceBuffer y)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cols);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        ulong pw = w.At((long)rows * cols * 4, "W"), px = x.At((long)batch * cols * 4, "x"), py = y.At((long)batch * rows * 4, "y");
        lock (_gpu.Gate)
        {
            _gpu.MakeCurrent();
            if (_cublas != null)
            {
                // Column-major: Yᵀ = op_T(Wᵀ) · Xᵀ.
                float alpha = 1f, beta = 0f;
                int rc = Cublas.cublasSgemm_v2(_cublas.DangerousGetHandle(), Cublas.CUBLAS_OP_T, Cublas.CUBLAS_OP_N, rows, batch, cols,
                                               &alpha, pw, cols, px, cols, &beta, py, rows);
                if (rc != 0) throw new CudaException(rc, $"cublasSgemm_v2 failed with cublasStatus {rc}");
                return;
            }
            long warps = (long)rows * batch;
            _gpu.Launch("hs_dense_gemm_f32", (uint)((warps * 32 + DenseThreads - 1) / DenseThreads), 1, DenseThreads,
                [KernelArg.Ptr(pw), KernelArg.I32(rows), KernelArg.I32(cols), KernelArg.Ptr(px), KernelArg.I32(batch), KernelArg.Ptr(py)]);
        }
    }

    public void Dispose() => _cublas?.Dispose();
}

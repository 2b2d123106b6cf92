using Hyprstream.Interop.Cuda;

namespace Hyprstream.Runtime.Apply;

/// <summary>
/// What the CUDA backend and <see cref="CudaDiagnostics"/> share: device 0's primary context, the kernel module with
/// every entry point of <see cref="KernelSignatures"/> (the first of the kernel images that loads: the fatbin, else the
/// PTX), one blocking stream, and the gate that serializes work on it.
/// </summary>
internal sealed unsafe class CudaDevice : IDisposable
{
    private readonly CudaContextHandle _context;
    private readonly CudaModuleHandle _module;
    private readonly CudaStreamHandle _stream;
    private readonly Dictionary<string, nint> _functions = new(StringComparer.Ordinal);
    private double _loadMilliseconds;
    private bool _disposed;

    public CudaDevice(IReadOnlyList<KernelImage> images)
    {
        CudaStatus.Check(Cu.cuInit(0), "cuInit");
        CudaStatus.Check(Cu.cuDeviceGet(out int dev, 0), "cuDeviceGet");
        _context = CudaContextHandle.Retain(dev);
        MakeCurrent();
        _module = new CudaModuleHandle(_context);
        KernelImage loaded;
        IReadOnlyList<string> skipped;
        try { (loaded, skipped) = KernelImages.LoadFirst(images, TryLoad); }
        catch
        {
            _module.Dispose();
            _context.Dispose();
            throw;
        }
        Kernels = $"{loaded}, loaded in {_loadMilliseconds:F0} ms" + (skipped.Count > 0 ? $", after {string.Join("; ", skipped)}" : "");
        if (skipped.Count > 0) Console.Error.WriteLine($"hyprstream: kernels from {loaded} ({string.Join("; ", skipped)})");
        Description = $"{CudaProbe.DescribeDevice(0)}; kernels: {Kernels}";
        // A blocking stream on purpose: it waits for the synchronous cuMemcpy*_v2 calls on the legacy default
        // stream (a pageable host-to-device copy may return before its DMA has landed).
        _stream = new CudaStreamHandle(_context);
        CudaStatus.Check(Cu.cuStreamCreate(out var stream, Cu.CU_STREAM_DEFAULT), "cuStreamCreate");
        _stream.Set(stream);
    }

    /// <summary>
    /// Loads one image and looks up every entry point; null when that worked (the module is kept), else why not (and
    /// nothing is kept). cuModuleLoadData takes PTX (NUL-terminated), fatbin and cubin alike; the copy is aligned
    /// (fatbin and ELF headers hold 8-byte fields), with a NUL after it.
    /// </summary>
    private string? TryLoad(KernelImage image)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(image.Path); }
        catch (IOException e) { return e.Message; }
        nuint size = (nuint)bytes.Length + 1;
        var p = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc(size, 256);
        try
        {
            bytes.CopyTo(new Span<byte>(p, bytes.Length));
            p[bytes.Length] = 0;
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            int rc = Cu.cuModuleLoadData(out var mod, p);
            if (rc != 0) return $"cuModuleLoadData failed: {CudaStatus.Describe(rc)}";
            _loadMilliseconds = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            var functions = new Dictionary<string, nint>(StringComparer.Ordinal);
            foreach (var name in KernelSignatures.Entries.Keys)
            {
                rc = Cu.cuModuleGetFunction(out var fn, mod, name);
                if (rc != 0)
                {
                    Cu.cuModuleUnload(mod);
                    return $"cuModuleGetFunction({name}) failed: {CudaStatus.Describe(rc)}";
                }
                functions[name] = fn;
            }
            _module.Set(mod);
            foreach (var (name, fn) in functions) _functions[name] = fn;
            return null;
        }
        finally { System.Runtime.InteropServices.NativeMemory.AlignedFree(p); }
    }

    /// <summary>The device and the kernel image in use, in words.</summary>
    public string Description { get; }
    /// <summary>Which kernel image is loaded, how long the load took, and why images before it were not used.</summary>
    public string Kernels { get; }
    /// <summary>Held around every use of the stream (reentrant).</summary>
    public object Gate { get; } = new();
    public CudaContextHandle Context => _context;
    public nint Stream => _stream.DangerousGetHandle();

    public void MakeCurrent()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CudaStatus.Check(Cu.cuCtxSetCurrent(_context.DangerousGetHandle()), "cuCtxSetCurrent");
    }

    public CudaMemoryHandle Alloc(long bytes)
    {
        var h = new CudaMemoryHandle(_context, bytes);
        CudaStatus.Check(Cu.cuMemAlloc_v2(out var p, (nuint)Math.Max(bytes, 4)), $"cuMemAlloc_v2({bytes} bytes)");
        h.Set((nint)p);
        return h;
    }

    public CudaMemoryHandle Upload<T>(ReadOnlySpan<T> data) where T : unmanaged
    {
        var h = Alloc((long)data.Length * sizeof(T));
        if (data.Length > 0)
            fixed (T* p = data) CudaStatus.Check(Cu.cuMemcpyHtoD_v2(h.Pointer, p, (nuint)((long)data.Length * sizeof(T))), "cuMemcpyHtoD_v2");
        return h;
    }

    public void Download<T>(ulong src, Span<T> dst) where T : unmanaged
    {
        if (dst.Length == 0) return;
        fixed (T* p = dst) CudaStatus.Check(Cu.cuMemcpyDtoH_v2(p, src, (nuint)((long)dst.Length * sizeof(T))), "cuMemcpyDtoH_v2");
    }

    /// <summary>Launches an entry point on the stream; the arguments are checked against and packed by <see cref="KernelSignatures"/>.</summary>
    public void Launch(string name, uint gridX, uint gridY, uint block, ReadOnlySpan<KernelArg> args)
    {
        ulong* slots = stackalloc ulong[args.Length];
        KernelSignatures.Pack(name, args, new Span<ulong>(slots, args.Length));
        void** p = stackalloc void*[args.Length];
        for (int i = 0; i < args.Length; i++) p[i] = slots + i;
        CudaStatus.Check(Cu.cuLaunchKernel(_functions[name], gridX, gridY, 1, block, 1, 1, 0, Stream, p, null), $"cuLaunchKernel({name})");
    }

    public void Sync() => CudaStatus.Check(Cu.cuStreamSynchronize(Stream), "cuStreamSynchronize");

    public CudaEventHandle NewEvent()
    {
        var h = new CudaEventHandle(_context);
        CudaStatus.Check(Cu.cuEventCreate(out var ev, Cu.CU_EVENT_DEFAULT), "cuEventCreate");
        h.Set(ev);
        return h;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _stream.Dispose();
        _module.Dispose();
        _context.Dispose();
    }
}

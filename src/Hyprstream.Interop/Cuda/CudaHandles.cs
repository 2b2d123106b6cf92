using System.Runtime.InteropServices;

namespace Hyprstream.Interop.Cuda;

// One SafeHandle per driver object. Release makes the owning context current first (finalizers run on another
// thread) and never throws; a failure at release time is ignored because the process may be tearing down the driver.

/// <summary>A retained primary context of one device; release calls cuDevicePrimaryCtxRelease_v2.</summary>
internal sealed class CudaContextHandle : SafeHandle
{
    public CudaContextHandle() : base(0, ownsHandle: true) { }
    internal int Device { get; private set; }
    public override bool IsInvalid => handle == 0;

    internal static CudaContextHandle Retain(int device)
    {
        var h = new CudaContextHandle { Device = device };
        CudaStatus.Check(Cu.cuDevicePrimaryCtxRetain(out var ctx, device), "cuDevicePrimaryCtxRetain");
        h.SetHandle(ctx);
        return h;
    }

    protected override bool ReleaseHandle()
    {
        Cu.cuDevicePrimaryCtxRelease_v2(Device);
        return true;
    }
}

/// <summary>Base for objects that live in a context: release makes that context current first.</summary>
internal abstract class CudaObjectHandle : SafeHandle
{
    protected CudaObjectHandle(CudaContextHandle context) : base(0, ownsHandle: true) => Context = context;

    protected CudaContextHandle Context { get; }
    public override bool IsInvalid => handle == 0;

    /// <summary>Takes ownership of a created object; from here on the context outlives it.</summary>
    internal void Set(nint value)
    {
        bool added = false;
        Context.DangerousAddRef(ref added);
        SetHandle(value);
    }

    protected sealed override bool ReleaseHandle()
    {
        Cu.cuCtxSetCurrent(Context.DangerousGetHandle());
        Destroy(handle);
        Context.DangerousRelease();
        return true;
    }

    protected abstract void Destroy(nint value);
}

internal sealed class CudaModuleHandle(CudaContextHandle context) : CudaObjectHandle(context)
{
    protected override void Destroy(nint value) => Cu.cuModuleUnload(value);
}

internal sealed class CudaStreamHandle(CudaContextHandle context) : CudaObjectHandle(context)
{
    protected override void Destroy(nint value) => Cu.cuStreamDestroy_v2(value);
}

internal sealed class CudaEventHandle(CudaContextHandle context) : CudaObjectHandle(context)
{
    protected override void Destroy(nint value) => Cu.cuEventDestroy_v2(value);
}

/// <summary>Device memory from cuMemAlloc_v2; the handle value is the device pointer.</summary>
internal sealed class CudaMemoryHandle(CudaContextHandle context, long bytes) : CudaObjectHandle(context)
{
    public long Bytes { get; } = bytes;
    public ulong Pointer => (ulong)DangerousGetHandle();
    protected override void Destroy(nint value) => Cu.cuMemFree_v2((ulong)value);
}

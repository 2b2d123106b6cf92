using System.Runtime.InteropServices;

namespace Hyprstream.Interop.Cuda;

/// <summary>
/// The four cuBLAS entry points the GPU benchmark's dense baseline needs (libcublas.so.12/.11, found where the CUDA
/// libraries are installed). Optional: without cuBLAS the benchmark uses our own dense kernel. Returns cublasStatus_t.
/// </summary>
internal static unsafe partial class Cublas
{
    public const string Lib = "cublas";
    public const int CUBLAS_OP_N = 0;
    public const int CUBLAS_OP_T = 1;

    [LibraryImport(Lib)] internal static partial int cublasCreate_v2(out nint handle);
    [LibraryImport(Lib)] internal static partial int cublasDestroy_v2(nint handle);
    [LibraryImport(Lib)] internal static partial int cublasSetStream_v2(nint handle, nint stream);
    [LibraryImport(Lib)]
    internal static partial int cublasSgemm_v2(nint handle, int transa, int transb, int m, int n, int k, float* alpha, ulong a, int lda,
                                               ulong b, int ldb, float* beta, ulong c, int ldc);

    /// <summary>Library file names tried, newest first.</summary>
    internal static readonly string[] FileNames = ["libcublas.so.12", "libcublas.so.11", "libcublas.so"];

    internal static bool TryLoad(out nint library)
    {
        foreach (var name in FileNames)
            if (NativeLibrary.TryLoad(name, out library)) return true;
        library = 0;
        return false;
    }
}

/// <summary>A cuBLAS handle; release calls cublasDestroy_v2 with its context current.</summary>
internal sealed class CublasHandle(CudaContextHandle context) : CudaObjectHandle(context)
{
    protected override void Destroy(nint value) => Cublas.cublasDestroy_v2(value);
}

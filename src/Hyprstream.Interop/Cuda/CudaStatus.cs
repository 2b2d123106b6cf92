using System.Runtime.InteropServices;

namespace Hyprstream.Interop.Cuda;

/// <summary>CUresult → exception with the driver's name and description (e.g. "CUDA_ERROR_OUT_OF_MEMORY: out of memory").</summary>
internal static unsafe class CudaStatus
{
    public static void Check(int result, string call)
    {
        if (result != 0) throw new CudaException(result, $"{call} failed: {Describe(result)}");
    }

    public static string Describe(int result)
    {
        string name = "CUDA error " + result, text = "";
        try
        {
            if (Cu.cuGetErrorName(result, out var n) == 0 && n != null) name = Marshal.PtrToStringUTF8((nint)n) ?? name;
            if (Cu.cuGetErrorString(result, out var t) == 0 && t != null) text = Marshal.PtrToStringUTF8((nint)t) ?? "";
        }
        catch (DllNotFoundException) { }
        return text.Length > 0 ? $"{name}: {text}" : name;
    }
}

/// <summary>A CUDA driver call failed; <see cref="Result"/> is the CUresult.</summary>
public sealed class CudaException(int result, string message) : HyprstreamException(message)
{
    public int Result { get; } = result;
}

namespace Hyprstream.Runtime.Apply;

/// <summary>Chooses the apply backend: explicit, or Auto (HYPRSTREAM_DEVICE=cpu|cuda, else CUDA when available).</summary>
public static class ApplyBackends
{
    public const string DeviceVariable = "HYPRSTREAM_DEVICE";
    private static int s_reported;

    /// <summary>What Auto resolves to in this process.</summary>
    /// <summary>A device name as users type it (`--device`, HYPRSTREAM_DEVICE): cpu, cuda (or gpu), auto.</summary>
    public static ApplyBackend Parse(string value) => value.ToLowerInvariant() switch
    {
        "cpu" => ApplyBackend.Cpu,
        "cuda" or "gpu" => ApplyBackend.Cuda,
        "auto" => ApplyBackend.Auto,
        var d => throw new ArgumentException($"--device {d}: expected cpu, cuda or auto"),
    };

    public static ApplyBackend Resolve(ApplyBackend requested = ApplyBackend.Auto)
    {
        if (requested != ApplyBackend.Auto) return requested;
        var env = Environment.GetEnvironmentVariable(DeviceVariable)?.Trim().ToLowerInvariant();
        switch (env)
        {
            case null or "" or "auto": break;
            case "cpu": return ApplyBackend.Cpu;
            case "cuda" or "gpu": return ApplyBackend.Cuda;
            default: throw new ArgumentException($"{DeviceVariable}='{env}' is not one of cpu, cuda, auto");
        }
        if (CudaProbe.Current.Available) return ApplyBackend.Cuda;
        // Reported once per process: CPU is the normal state on machines without a GPU.
        if (Interlocked.Exchange(ref s_reported, 1) == 0)
            Console.Error.WriteLine($"hyprstream: CUDA not used ({CudaProbe.Current.Description}); using the CPU backend");
        return ApplyBackend.Cpu;
    }

    /// <summary>Creates the backend; asking for CUDA where it cannot run throws with the reason.</summary>
    public static IAdapterApplier Create(ApplyBackend requested = ApplyBackend.Auto) => Resolve(requested) switch
    {
        ApplyBackend.Cpu => new CpuApplier(),
        ApplyBackend.Cuda when CudaProbe.Current.Available => new CudaApplier(CudaProbe.Current.Images),
        ApplyBackend.Cuda => throw new InvalidOperationException($"the CUDA backend is not available: {CudaProbe.Current.Description}"),
        var k => throw new ArgumentOutOfRangeException(nameof(requested), k, "unknown backend"),
    };
}

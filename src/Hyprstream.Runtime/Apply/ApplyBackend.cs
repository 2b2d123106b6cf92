namespace Hyprstream.Runtime.Apply;

/// <summary>Where adapter kernels run. Auto: CUDA when a device and the PTX are present, else the CPU.
/// The environment variable HYPRSTREAM_DEVICE=cpu|cuda overrides Auto.</summary>
public enum ApplyBackend
{
    Auto = 0,
    Cpu = 1,
    Cuda = 2,
}

using Hyprstream.Runtime;
using Hyprstream.Runtime.Apply;

namespace Hyprstream.Tests;

/// <summary>ApplyBackend selection: explicit choice, HYPRSTREAM_DEVICE, and CUDA's absence as a normal state.</summary>
[NonParallelizable]
public class BackendSelectionTests
{
    private string? _saved;

    [SetUp] public void Save() => _saved = Environment.GetEnvironmentVariable(ApplyBackends.DeviceVariable);
    [TearDown] public void Restore() => Environment.SetEnvironmentVariable(ApplyBackends.DeviceVariable, _saved);

    [Test]
    public void ExplicitCpu_IsTheCpuBackend()
    {
        using var b = ApplyBackends.Create(ApplyBackend.Cpu);
        Assert.That(b, Is.InstanceOf<CpuApplier>());
        Assert.That(b.Device, Does.StartWith("CPU"));
    }

    [Test]
    public void EnvironmentVariable_ChoosesForAuto()
    {
        Environment.SetEnvironmentVariable(ApplyBackends.DeviceVariable, "cpu");
        Assert.That(ApplyBackends.Resolve(), Is.EqualTo(ApplyBackend.Cpu));
        Environment.SetEnvironmentVariable(ApplyBackends.DeviceVariable, "CUDA");
        Assert.That(ApplyBackends.Resolve(), Is.EqualTo(ApplyBackend.Cuda));
        Assert.That(ApplyBackends.Resolve(ApplyBackend.Cpu), Is.EqualTo(ApplyBackend.Cpu), "an explicit choice wins");
        Environment.SetEnvironmentVariable(ApplyBackends.DeviceVariable, "tpu");
        var e = Assert.Throws<ArgumentException>(() => ApplyBackends.Resolve());
        Assert.That(e!.Message, Does.Contain("tpu"));
    }

    [Test]
    public void Auto_WithoutCuda_FallsBackToCpu_AndCudaOnRequestSaysWhy()
    {
        Environment.SetEnvironmentVariable(ApplyBackends.DeviceVariable, null);
        var probe = CudaProbe.Current;
        Assert.That(probe.Description, Is.Not.Empty);
        if (probe.Available)
        {
            Assert.That(ApplyBackends.Resolve(), Is.EqualTo(ApplyBackend.Cuda));
            return;
        }
        Assert.That(ApplyBackends.Resolve(), Is.EqualTo(ApplyBackend.Cpu));
        using (var b = ApplyBackends.Create()) Assert.That(b.Kind, Is.EqualTo(ApplyBackend.Cpu));
        var e = Assert.Throws<InvalidOperationException>(() => ApplyBackends.Create(ApplyBackend.Cuda));
        Assert.That(e!.Message, Does.Contain(probe.Description));
    }
}

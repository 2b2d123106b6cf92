using Hyprstream.Runtime;
using Hyprstream.Runtime.Safetensors;
using Hyprstream.Runtime.Switching;

namespace Hyprstream.Tests;

/// <summary>Switching adapters into dense base weights and back: bit-exact restore, only active weights touched.</summary>
public class AdapterSwitcherTests
{
    private static DenseTensor RandomTensor(string name, TensorDType dtype, int rows, int cols, int seed)
    {
        var values = PeftFixtures.Random(new Random(seed), rows * cols, 3f);
        var t = new DenseTensor(name, dtype, rows, cols);
        var bytes = t.Data.AsSpan();
        for (int i = 0; i < values.Length; i++)
        {
            if (dtype == TensorDType.F32) BitConverter.TryWriteBytes(bytes[(i * 4)..], values[i]);
            else BitConverter.TryWriteBytes(bytes[(i * 2)..], FloatBits.FromFloat(values[i], dtype));
        }
        return t;
    }

    private static SparseAdapter Adapter(int seed)
    {
        var a = new SparseAdapter($"a{seed}");
        var rng = new Random(seed);
        var q = a.AddModule("model.layers.0.self_attn.q_proj", 40, 130, scale: 0.5f);
        var d = a.AddModule("model.layers.0.mlp.down_proj", 24, 70);
        foreach (var m in new[] { q, d })
        {
            for (int i = 0; i < 300; i++) m.Set(rng.Next(m.Rows), rng.Next(m.Cols), (float)(rng.NextDouble() * 2 - 1));
            for (int c = 0; c < 64; c++) m.Set(8, c, 0.25f);   // one full tile row: a run of 64
        }
        q.Set(0, 0, 0f);   // an explicit zero: switching it in must not flip a -0 base to +0 for good
        return a;
    }

    [TestCase(TensorDType.F32)]
    [TestCase(TensorDType.F16)]
    [TestCase(TensorDType.BF16)]
    public void SwitchInThenOut_RestoresTheBaseBitExact_AndTouchesOnlyActiveWeights(TensorDType dtype)
    {
        var q = RandomTensor("model.layers.0.self_attn.q_proj.weight", dtype, 40, 130, 1);
        var d = RandomTensor("model.layers.0.mlp.down_proj.weight", dtype, 24, 70, 2);
        var other = RandomTensor("model.layers.0.self_attn.k_proj.weight", dtype, 8, 8, 3);
        if (dtype == TensorDType.F32) BitConverter.TryWriteBytes(q.Data, -0f);
        var before = new[] { q, d, other }.Select(t => t.Data.ToArray()).ToList();
        using var a = Adapter(5);
        var switcher = new AdapterSwitcher([q, d, other]);
        for (int round = 0; round < 3; round++)
        {
            switcher.SwitchIn(a, scale: 2f);
            Assert.That(switcher.ActiveAdapter, Is.EqualTo("a5"));
            foreach (var (t, orig) in new[] { (q, before[0]), (d, before[1]) })
            {
                var m = a.Modules[t.Name[..^".weight".Length]];
                var active = m.EnumerateActive().ToDictionary(w => (w.Row, w.Col), w => w.Value);
                var size = dtype.Size();
                var origT = new DenseTensor("x", dtype, t.Rows, t.Cols, orig);
                for (int r = 0; r < t.Rows; r++)
                    for (int c = 0; c < t.Cols; c++)
                    {
                        int at = (r * t.Cols + c) * size;
                        if (active.TryGetValue((r, c), out var v))
                        {
                            float expected = origT.Get(r, c) + 2f * m.Scale * v;
                            if (dtype != TensorDType.F32) expected = FloatBits.ToFloat(FloatBits.FromFloat(expected, dtype), dtype);
                            Assert.That(t.Get(r, c), Is.EqualTo(expected), $"{m.Name}[{r},{c}] switched in");
                        }
                        else Assert.That(t.Data.AsSpan(at, size).SequenceEqual(orig.AsSpan(at, size)), $"{m.Name}[{r},{c}] is not active and must not change");
                    }
            }
            Assert.That(other.Data, Is.EqualTo(before[2]), "a tensor the adapter does not touch");
            switcher.SwitchOut();
            Assert.That(switcher.ActiveAdapter, Is.Null);
            Assert.That(q.Data, Is.EqualTo(before[0]), $"round {round}: q_proj restored bit-exact");
            Assert.That(d.Data, Is.EqualTo(before[1]), $"round {round}: down_proj restored bit-exact");
        }
    }

    [Test]
    public void SwitchingBetweenTwoAdapters_UsesEachOnesDelta_AndRestoresTheBase()
    {
        var q = RandomTensor("model.layers.0.self_attn.q_proj.weight", TensorDType.BF16, 40, 130, 1);
        var d = RandomTensor("model.layers.0.mlp.down_proj.weight", TensorDType.BF16, 24, 70, 2);
        var before = (q.Data.ToArray(), d.Data.ToArray());
        using var a = Adapter(5);
        using var b = Adapter(6);
        var s = new AdapterSwitcher([q, d]);
        var pa = s.Prepare(a);
        var pb = s.Prepare(b);
        s.SwitchIn(pa);
        var withA = q.Data.ToArray();
        Assert.Throws<InvalidOperationException>(() => s.SwitchIn(pb));
        Assert.Throws<InvalidOperationException>(() => s.Prepare(b));
        s.SwitchOut();
        s.SwitchIn(pb);
        Assert.That(q.Data, Is.Not.EqualTo(withA));
        s.SwitchOut();
        s.SwitchIn(pa);
        Assert.That(q.Data, Is.EqualTo(withA));
        s.SwitchOut();
        Assert.That((q.Data, d.Data), Is.EqualTo(before));
        Assert.Throws<InvalidOperationException>(() => s.SwitchOut());
    }

    [Test]
    public void ShapeMismatch_AndMissingTensor_AreRefused_BeforeAnythingChanges()
    {
        var q = RandomTensor("model.layers.0.self_attn.q_proj.weight", TensorDType.F32, 40, 131, 1);
        var d = RandomTensor("model.layers.0.mlp.down_proj.weight", TensorDType.F32, 24, 70, 2);
        var before = q.Data.ToArray();
        using var a = Adapter(5);
        var e = Assert.Throws<ArgumentException>(() => new AdapterSwitcher([q, d]).SwitchIn(a));
        Assert.That(e!.Message, Does.Contain("40x130").And.Contain("40x131"));
        Assert.That(q.Data, Is.EqualTo(before));
        Assert.Throws<KeyNotFoundException>(() => new AdapterSwitcher([d]).Prepare(a));
    }

    [Test]
    public void BaseReadFromSafetensors_SwitchesAndComesBackIdenticalToTheFile()
    {
        using var dir = new TempDir();
        var rng = new Random(4);
        SafetensorsWriter.WriteAll(dir.File("base.safetensors"),
            [("model.layers.0.self_attn.q_proj.weight", [40, 130], PeftFixtures.Random(rng, 40 * 130, 1f)),
             ("model.layers.0.mlp.down_proj.weight", [24, 70], PeftFixtures.Random(rng, 24 * 70, 1f))], TensorDType.BF16);
        using var file = SafetensorsFile.Open(dir.File("base.safetensors"));
        var tensors = file.Tensors.Select(t => DenseTensor.Read(file, t)).ToList();
        using var a = Adapter(7);
        var s = new AdapterSwitcher(tensors);
        s.SwitchIn(a);
        Assert.That(tensors[0].Data.AsSpan().SequenceEqual(file.Bytes(file.Tensors[0])), Is.False, "switched in");
        s.SwitchOut();
        foreach (var t in tensors)
            Assert.That(t.Data.AsSpan().SequenceEqual(file.Bytes(file[t.Name])), t.Name);
    }
}

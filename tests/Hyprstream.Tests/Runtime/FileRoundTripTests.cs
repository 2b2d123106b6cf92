using Hyprstream.Runtime;

namespace Hyprstream.Tests;

/// <summary>Save/load fidelity, multi-adapter files, and metadata read without weights.</summary>
public class FileRoundTripTests
{
    [Test]
    public void Save_Load_Float32_IsBitExact_WithMetadata()
    {
        using var dir = new TempDir();
        using var a = Fixtures.Small();
        a.Modules[1].Scale = 0.125f;
        a.Save(dir.File("a.vdb"));
        using var b = SparseAdapter.Load(dir.File("a.vdb"));
        Assert.That(b.Name, Is.EqualTo("small"));
        Assert.That(b.BaseModel, Is.EqualTo("Qwen/Qwen3-1.7B"));
        Assert.That(b.Provenance["source"], Is.EqualTo("test"));
        Assert.That(b.Metadata["purpose"], Is.EqualTo("unit test"));
        Assert.That(b.Modules.Select(m => (m.Name, m.Layer, m.Rows, m.Cols, m.Scale, m.SlotBase)),
            Is.EqualTo(a.Modules.Select(m => (m.Name, m.Layer, m.Rows, m.Cols, m.Scale, m.SlotBase))));
        var sa = Fixtures.Snapshot(a);
        var sb = Fixtures.Snapshot(b);
        Assert.That(sb.Keys, Is.EquivalentTo(sa.Keys));
        foreach (var (k, v) in sa) Assert.That(BitConverter.SingleToInt32Bits(sb[k]), Is.EqualTo(BitConverter.SingleToInt32Bits(v)), k.ToString());
    }

    [Test]
    public void Save_Load_Half_IsWithinHalfPrecision_AndSmaller()
    {
        using var dir = new TempDir();
        using var a = new SparseAdapter("h");
        var rng = new Random(2);
        a.AddModuleFromDense("m", 64, 512, Enumerable.Range(0, 64 * 512).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray());
        a.Save(dir.File("f.vdb"));
        a.Save(dir.File("h.vdb"), SaveOptions.Half);
        Assert.That(new FileInfo(dir.File("h.vdb")).Length, Is.LessThan(new FileInfo(dir.File("f.vdb")).Length * 0.7));
        using var b = SparseAdapter.Load(dir.File("h.vdb"));
        var x = a.Modules[0].ToDense();
        var y = b.Modules[0].ToDense();
        for (int i = 0; i < x.Length; i++)
        {
            Assert.That(y[i], Is.EqualTo((float)(Half)x[i]), $"index {i} is exactly the half rounding");
            Assert.That(Math.Abs(y[i] - x[i]), Is.LessThanOrEqualTo(Math.Abs(x[i]) * 1e-3 + 1e-7));
        }
        Assert.That(AdapterFile.ReadInfo(dir.File("h.vdb")).Adapters[0].SavedAsHalf, Is.True);
    }

    [Test]
    public void Save_Half_RefusesValuesBeyondHalfRange_AndWritesNothing()
    {
        using var dir = new TempDir();
        using var a = new SparseAdapter("big");
        a.AddModule("m", 4, 4)[0, 0] = 70000f;
        var e = Assert.Throws<ArgumentException>(() => a.Save(dir.File("x.vdb"), SaveOptions.Half));
        Assert.That(e!.Message, Does.Contain("65504"));
        Assert.That(Directory.GetFiles(dir.Path), Is.Empty);
    }

    [TestCase(FileCompression.Blosc)]
    [TestCase(FileCompression.Zip)]
    [TestCase(FileCompression.None)]
    public void EveryCompression_RoundTrips(FileCompression compression)
    {
        using var dir = new TempDir();
        using var a = Fixtures.Small();
        a.Save(dir.File("c.vdb"), new SaveOptions { Compression = compression });
        using var b = SparseAdapter.Load(dir.File("c.vdb"));
        Assert.That(Fixtures.Snapshot(b), Is.EquivalentTo(Fixtures.Snapshot(a)));
    }

    [Test]
    public void SeveralAdapters_InOneFile()
    {
        using var dir = new TempDir();
        using var a = Fixtures.Small("alpha", seed: 1);
        using var b = Fixtures.Small("beta", seed: 2);
        AdapterFile.Save(dir.File("two.vdb"), [a, b]);
        var info = AdapterFile.ReadInfo(dir.File("two.vdb"));
        Assert.That(info.Adapters.Select(x => x.Name), Is.EqualTo(new[] { "alpha", "beta" }));
        var e = Assert.Throws<ArgumentException>(() => SparseAdapter.Load(dir.File("two.vdb")));
        Assert.That(e!.Message, Does.Contain("alpha").And.Contain("beta"));
        using var lb = SparseAdapter.Load(dir.File("two.vdb"), "beta");
        Assert.That(Fixtures.Snapshot(lb), Is.EquivalentTo(Fixtures.Snapshot(b)));
        var all = AdapterFile.LoadAll(dir.File("two.vdb"));
        try { Assert.That(all.Select(x => x.ActiveCount), Is.EqualTo(new[] { a.ActiveCount, b.ActiveCount })); }
        finally { foreach (var x in all) x.Dispose(); }
        Assert.Throws<KeyNotFoundException>(() => SparseAdapter.Load(dir.File("two.vdb"), "gamma"));
        Assert.Throws<ArgumentException>(() => AdapterFile.Save(dir.File("dup.vdb"), [a, a]));
    }

    [Test]
    public void ReadInfo_GivesTheModuleTable_WithoutWeights()
    {
        using var dir = new TempDir();
        using var a = Fixtures.Small();
        a.Save(dir.File("i.vdb"));
        var info = AdapterFile.ReadInfo(dir.File("i.vdb"));
        Assert.That(info.SizeBytes, Is.EqualTo(new FileInfo(dir.File("i.vdb")).Length));
        var ai = info.Adapters.Single();
        Assert.That(ai.Mapping, Is.EqualTo("hs.tile8x64"));
        Assert.That(ai.MappingVersion, Is.EqualTo(1));
        Assert.That(ai.ActiveCount, Is.EqualTo(a.ActiveCount));
        Assert.That(ai.MemoryBytes, Is.GreaterThan(0));
        Assert.That(ai.Modules.Select(m => (m.Name, m.Rows, m.Cols, m.ActiveCount)),
            Is.EqualTo(a.Modules.Select(m => (m.Name, m.Rows, m.Cols, m.ActiveCount))));
        Assert.That(ai.Modules[1].Layer, Is.EqualTo(1));
    }

    [Test]
    public void Save_OverAnExistingFile_ReplacesIt_AndLeavesNoTempFiles()
    {
        using var dir = new TempDir();
        using (var a = Fixtures.Small("v1", seed: 1)) a.Save(dir.File("a.vdb"));
        using (var b = Fixtures.Small("v2", seed: 2)) b.Save(dir.File("a.vdb"));
        using var c = SparseAdapter.Load(dir.File("a.vdb"));
        Assert.That(c.Name, Is.EqualTo("v2"));
        Assert.That(Directory.GetFiles(dir.Path).Select(Path.GetFileName), Is.EqualTo(new[] { "a.vdb" }));
    }

    [Test]
    public void LoadedAdapter_CanBeModifiedAndSavedAgain()
    {
        using var dir = new TempDir();
        using (var a = Fixtures.Small()) a.Save(dir.File("a.vdb"));
        using (var b = SparseAdapter.Load(dir.File("a.vdb")))
        {
            b.Modules[0][1, 1] = 123f;
            b.AddModule("model.layers.9.mlp.up_proj", 16, 16)[3, 3] = 4f;
            b.Save(dir.File("a.vdb"));
        }
        using var c = SparseAdapter.Load(dir.File("a.vdb"));
        Assert.That(c.Modules[0][1, 1], Is.EqualTo(123f));
        Assert.That(c.Modules["model.layers.9.mlp.up_proj"][3, 3], Is.EqualTo(4f));
    }
}

using Hyprstream.Runtime;

namespace Hyprstream.Tests;

/// <summary>Bad input gets a clear exception, the process keeps running, and nothing already stored is lost.</summary>
public class BadInputTests
{
    [TestCase(-1, 0)]
    [TestCase(0, -1)]
    [TestCase(10, 0)]
    [TestCase(0, 20)]
    [TestCase(int.MaxValue, int.MinValue)]
    public void OutOfRangeCoordinates_Throw_AndChangeNothing(int row, int col)
    {
        using var a = Fixtures.Small();
        var m = a.AddModule("m", 10, 20);
        m[1, 1] = 5f;
        var before = Fixtures.Snapshot(a);
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Set(row, col, 1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Add(row, col, 1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Get(row, col));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.SetMany([0, 1, row], [0, 1, col], [1f, 2f, 3f]));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.AddMany([0, row], [0, col], [1f, 2f]));
        Assert.That(Fixtures.Snapshot(a), Is.EquivalentTo(before));
    }

    [TestCase(0, 5)]
    [TestCase(5, 0)]
    [TestCase(-3, 5)]
    [TestCase(5, -3)]
    public void NonPositiveShapes_AreRefused(int rows, int cols)
    {
        using var a = new SparseAdapter("s");
        Assert.Throws<ArgumentOutOfRangeException>(() => a.AddModule("m", rows, cols));
        Assert.That(a.Modules, Is.Empty);
    }

    [TestCase(float.NaN)]
    [TestCase(float.PositiveInfinity)]
    [TestCase(float.NegativeInfinity)]
    public void NonFiniteValues_AreRejected_Everywhere(float bad)
    {
        using var a = new SparseAdapter("nan");
        var m = a.AddModule("m", 8, 8);
        m[0, 0] = 1f;
        Assert.Throws<ArgumentException>(() => m.Set(1, 1, bad));
        Assert.Throws<ArgumentException>(() => m.Add(0, 0, bad));
        var e = Assert.Throws<ArgumentException>(() => m.SetMany([2, 3, 4], [2, 3, 4], [1f, bad, 1f]));
        Assert.That(e!.Message, Does.Contain("batch index 1"));
        Assert.Throws<ArgumentException>(() => m.AddMany([2], [2], [bad]));
        var dense = new float[64];
        dense[10] = bad;
        Assert.Throws<ArgumentException>(() => m.FromDense(dense));
        Assert.Throws<ArgumentException>(() => m.MergeFrom(m, bad));
        Assert.Throws<ArgumentException>(() => m.Scale = bad);
        Assert.That(m.ActiveCount, Is.EqualTo(1));
        Assert.That(m[0, 0], Is.EqualTo(1f));
    }

    [Test]
    public void AddThatOverflowsToInfinity_RollsTheWholeBatchBack()
    {
        using var a = new SparseAdapter("of");
        var m = a.AddModule("m", 4, 4);
        m[0, 0] = 3e38f;
        m[1, 1] = 1f;
        Assert.Throws<ArgumentException>(() => m.AddMany([1, 2, 0], [1, 2, 0], [1f, 5f, 3e38f]));
        Assert.That(m[1, 1], Is.EqualTo(1f));
        Assert.That(m.IsActive(2, 2), Is.False);
        Assert.That(m[0, 0], Is.EqualTo(3e38f));
        Assert.Throws<ArgumentException>(() => m.MergeFrom(m, 1f));
        Assert.That(m[0, 0], Is.EqualTo(3e38f));
    }

    [Test]
    public void MergingModulesOfDifferentShapes_Throws_AndChangesNothing()
    {
        using var a = new SparseAdapter("a");
        using var b = new SparseAdapter("b");
        a.AddModule("x", 4, 4)[0, 0] = 1f;
        a.AddModule("y", 4, 4)[0, 0] = 1f;
        b.AddModule("x", 4, 4)[0, 0] = 1f;
        b.AddModule("y", 4, 5)[0, 0] = 1f;
        var e = Assert.Throws<ArgumentException>(() => a.MergeFrom(b));
        Assert.That(e!.Message, Does.Contain("'y'"));
        Assert.That(a.Modules["x"][0, 0], Is.EqualTo(1f), "shapes are checked before any module merges");
        Assert.Throws<ArgumentException>(() => a.Modules["y"].MergeFrom(b.Modules["y"]));
        Assert.Throws<ArgumentException>(() => SparseAdapter.Fuse("f", [a, b], [1f, 1f]));
        Assert.Throws<ArgumentException>(() => SparseAdapter.Fuse("f", [a, b], [1f]));
    }

    [Test]
    public void UnknownModule_Throws_KeyNotFound()
    {
        using var a = Fixtures.Small();
        var e = Assert.Throws<KeyNotFoundException>(() => _ = a.Modules["model.layers.99.nothing"]);
        Assert.That(e!.Message, Does.Contain("model.layers.99.nothing"));
        Assert.Throws<ArgumentException>(() => a.AddModule(a.Modules[0].Name, 2, 2));
    }

    [TestCase("../evil")]
    [TestCase("a/b")]
    [TestCase("a\\b")]
    [TestCase("bad\0name")]
    [TestCase("..")]
    [TestCase(".hidden")]
    [TestCase("")]
    [TestCase("   ")]
    public void AdapterNames_WithPathTricks_AreRefused(string name)
    {
        Assert.Throws<ArgumentException>(() => new SparseAdapter(name));
        using var a = new SparseAdapter("ok");
        Assert.Throws<ArgumentException>(() => a.Name = name);
        Assert.That(a.Name, Is.EqualTo("ok"));
    }

    [Test]
    public void DisposedAdapter_ThrowsObjectDisposed()
    {
        var a = Fixtures.Small();
        var m = a.Modules[0];
        a.Dispose();
        a.Dispose(); // twice is fine
        Assert.Throws<ObjectDisposedException>(() => m.Get(0, 0));
        Assert.Throws<ObjectDisposedException>(() => m.Set(0, 0, 1f));
        Assert.Throws<ObjectDisposedException>(() => _ = a.ActiveCount);
        Assert.Throws<ObjectDisposedException>(() => a.Save(Path.GetTempFileName()));
        Assert.Throws<ObjectDisposedException>(() => a.Clone());
        Assert.Throws<ObjectDisposedException>(() => a.AddModule("z", 1, 1));
        Assert.Throws<ObjectDisposedException>(() => m.EnumerateActive().ToList());
    }

    [Test]
    public void Load_MissingFile_ThrowsFileNotFound()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<FileNotFoundException>(() => SparseAdapter.Load(dir.File("nope.vdb")));
        Assert.That(e!.Message, Does.Contain("nope.vdb"));
        Assert.Throws<FileNotFoundException>(() => AdapterFile.ReadInfo(dir.File("nope.vdb")));
        Assert.Throws<IOException>(() => SparseAdapter.Load(dir.Path), "a directory is not a file");
    }

    [Test]
    public void Load_NonVdbFiles_ThrowInvalidData()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("text.vdb"), "this is not a VDB file at all, just text that is long enough");
        File.WriteAllBytes(dir.File("empty.vdb"), []);
        File.WriteAllBytes(dir.File("random.vdb"), Enumerable.Range(0, 4096).Select(i => (byte)(i * 31 + 7)).ToArray());
        foreach (var f in new[] { "text.vdb", "empty.vdb", "random.vdb" })
        {
            Assert.Throws<InvalidDataException>(() => SparseAdapter.Load(dir.File(f)), f);
            Assert.Throws<InvalidDataException>(() => AdapterFile.ReadInfo(dir.File(f)), f);
        }
    }

    [Test]
    public void Load_TruncatedFile_ThrowsInvalidData_AtEveryCut()
    {
        using var dir = new TempDir();
        using (var a = Fixtures.Small(count: 2000)) a.Save(dir.File("a.vdb"));
        var bytes = File.ReadAllBytes(dir.File("a.vdb"));
        var rng = new Random(11);
        var cuts = new List<int> { 1, 8, 16, 100, bytes.Length / 2, bytes.Length - 1 };
        for (int i = 0; i < 20; i++) cuts.Add(rng.Next(1, bytes.Length));
        foreach (var cut in cuts)
        {
            File.WriteAllBytes(dir.File("t.vdb"), bytes[..cut]);
            Assert.Throws<InvalidDataException>(() => SparseAdapter.Load(dir.File("t.vdb")).Dispose(), $"cut at {cut} of {bytes.Length}");
        }
        using var whole = SparseAdapter.Load(dir.File("a.vdb"));
        Assert.That(whole.ActiveCount, Is.GreaterThan(0), "the process is fine and the intact file still loads");
    }

    [TestCase(FileCompression.None)]
    [TestCase(FileCompression.Blosc)]
    public void Load_BitFlippedFile_ThrowsInvalidData_WhereverTheFlipIs(FileCompression compression)
    {
        using var dir = new TempDir();
        using (var a = Fixtures.Small(count: 2000)) a.Save(dir.File("a.vdb"), new SaveOptions { Compression = compression });
        var bytes = File.ReadAllBytes(dir.File("a.vdb"));
        var rng = new Random(12);
        for (int i = 0; i < 60; i++)
        {
            var copy = (byte[])bytes.Clone();
            int at = rng.Next(bytes.Length), bit = rng.Next(8);
            copy[at] ^= (byte)(1 << bit);
            File.WriteAllBytes(dir.File("f.vdb"), copy);
            Assert.Throws<InvalidDataException>(() => SparseAdapter.Load(dir.File("f.vdb")).Dispose(), $"flip of bit {bit} at byte {at} of {bytes.Length}");
        }
        using var whole = SparseAdapter.Load(dir.File("a.vdb"));
        Assert.That(whole.ActiveCount, Is.GreaterThan(0));
    }
}

using Hyprstream.Runtime;
using Hyprstream.Runtime.Snapshots;
using Hyprstream.Runtime.Apply;

namespace Hyprstream.Tests;

/// <summary>NanoVDB snapshots: exact float32 copies, bounded Fp16 error, files that round-trip, bad data refused.</summary>
public class SnapshotTests
{
    [TestCase(16, 64)]
    [TestCase(64, 256)]
    [TestCase(2048, 2048)]
    public void SparselyFilledTiles_Snapshot_AndApplyLikeTheAdapter(int rows, int cols)
    {
        // A few voxels per tile: NanoVDB stores each leaf's active bounding box, not its origin, in the leaf header.
        using var a = new SparseAdapter("sparse");
        var m = a.AddModule("model.layers.0.mlp.up_proj", rows, cols, 0.5f);
        var rng = new Random(rows + cols);
        var r = Enumerable.Range(0, 40).Select(_ => rng.Next(rows)).ToArray();
        var c = Enumerable.Range(0, 40).Select(_ => rng.Next(cols)).ToArray();
        m.SetMany(r, c, r.Select((_, i) => 1f + i).ToArray());
        using var s = AdapterSnapshot.Create(a);
        Assert.That(s.ActiveCount, Is.EqualTo(m.ActiveCount));
        Assert.That(s.ToDense(m.Name), Is.EqualTo(m.ToDense(applyScale: false)));
        using var cpu = new CpuApplier();
        var got = new float[r.Length];
        cpu.Lookup(s, m.Name, r, c, got);
        var want = new float[r.Length];
        m.GetMany(r, c, want);
        Assert.That(got, Is.EqualTo(want));
    }

    [Test]
    public void Float32Snapshot_HoldsExactlyTheAdaptersWeights_InactiveAsZero()
    {
        using var a = ApplyFixtures.Random(1);
        using var s = AdapterSnapshot.Create(a);
        Assert.That(s.Precision, Is.EqualTo(SnapshotPrecision.Float32));
        Assert.That(s.Modules.Select(m => m.Name), Is.EqualTo(a.Modules.Select(m => m.Name)));
        Assert.That(s.LeafCount, Is.EqualTo(a.Modules.Sum(m => m.TileCount)));
        Assert.That(s.ActiveCount, Is.EqualTo(a.ActiveCount));
        foreach (var m in a.Modules)
        {
            Assert.That(s[m.Name].Scale, Is.EqualTo(m.Scale));
            Assert.That(s.ToDense(m.Name), Is.EqualTo(m.ToDense(applyScale: false)), m.Name);
            Assert.That(s.ToDense(m.Name, applyScale: true), Is.EqualTo(m.ToDense(applyScale: true)).Within(1e-6f), m.Name);
        }
    }

    [Test]
    public void Fp16Snapshot_IsSmaller_AndWithinHalfAQuantumPerLeaf()
    {
        using var a = ApplyFixtures.Random(2);
        using var f32 = AdapterSnapshot.Create(a);
        using var f16 = AdapterSnapshot.Create(a, SnapshotPrecision.Fp16);
        Assert.That(f16.ByteSize, Is.LessThan(f32.ByteSize));
        foreach (var m in a.Modules)
        {
            var exact = m.ToDense(applyScale: false);
            var approx = f16.ToDense(m.Name);
            // values lie in [-1, 1]: a leaf's quantum is at most 2/65535, the error at most half of it (+ float rounding)
            for (int i = 0; i < exact.Length; i++) Assert.That(approx[i], Is.EqualTo(exact[i]).Within(2.0 / 65535 * 0.5 + 1e-6), $"{m.Name}[{i}]");
        }
    }

    [Test]
    public void SnapshotFile_RoundTrips_BufferAndModuleTable()
    {
        using var tmp = new TempDir();
        using var a = ApplyFixtures.Random(3, name: "tenant-7");
        using var s = AdapterSnapshot.Create(a, SnapshotPrecision.Fp16);
        s.Save(tmp.File("t.nvdb"));
        using var back = AdapterSnapshot.Load(tmp.File("t.nvdb"));
        Assert.That(back.Name, Is.EqualTo("tenant-7"));
        Assert.That(back.BaseModel, Is.EqualTo("test/base"));
        Assert.That(back.Precision, Is.EqualTo(SnapshotPrecision.Fp16));
        Assert.That(back.ToArray(), Is.EqualTo(s.ToArray()));
        foreach (var m in s.Modules)
        {
            var b = back[m.Name];
            Assert.That((b.Rows, b.Cols, b.Scale, b.SlotBase, b.LeafCount), Is.EqualTo((m.Rows, m.Cols, m.Scale, m.SlotBase, m.LeafCount)));
            Assert.That(back.ToDense(m.Name), Is.EqualTo(s.ToDense(m.Name)));
        }
        Assert.That(new FileInfo(tmp.File("t.nvdb")).Length, Is.EqualTo(32 + PaddedTableLength(tmp.File("t.nvdb")) + s.ByteSize));
    }

    private static long PaddedTableLength(string path)
    {
        var b = File.ReadAllBytes(path);
        return (BitConverter.ToUInt32(b, 12) + 31) / 32 * 32;
    }

    [Test]
    public void RawBuffer_IsPositionIndependent_AndAdoptable()
    {
        using var a = ApplyFixtures.Random(4);
        using var s = AdapterSnapshot.Create(a);
        var bytes = s.ToArray();
        Assert.That(BitConverter.ToUInt64(bytes, 0), Is.EqualTo(0x304244566f6e614eUL), "NanoVDB magic 'NanoVDB0'");
        using var copy = AdapterSnapshot.FromNanoVdb(bytes, "copy", s.Modules.Select(m => (m.Name, m.Rows, m.Cols, m.Scale, m.SlotBase)));
        foreach (var m in a.Modules) Assert.That(copy.ToDense(m.Name), Is.EqualTo(s.ToDense(m.Name)));
    }

    [Test]
    public void TruncatedFile_IsInvalidData_SayingSo()
    {
        using var tmp = new TempDir();
        using var a = ApplyFixtures.Random(5);
        using var s = AdapterSnapshot.Create(a);
        s.Save(tmp.File("s.nvdb"));
        var bytes = File.ReadAllBytes(tmp.File("s.nvdb"));
        foreach (int keep in new[] { 0, 10, 31, 40, bytes.Length / 2, bytes.Length - 1 })
        {
            File.WriteAllBytes(tmp.File("t.nvdb"), bytes[..keep]);
            var e = Assert.Throws<InvalidDataException>(() => AdapterSnapshot.Load(tmp.File("t.nvdb")), $"keep {keep}");
            Assert.That(e!.Message, Does.Contain("t.nvdb").And.Contain("not a Hyprstream snapshot file"));
        }
    }

    [Test]
    public void FlippedBit_IsCaughtByTheChecksum()
    {
        using var tmp = new TempDir();
        using var a = ApplyFixtures.Random(6);
        using var s = AdapterSnapshot.Create(a);
        s.Save(tmp.File("s.nvdb"));
        var bytes = File.ReadAllBytes(tmp.File("s.nvdb"));
        bytes[bytes.Length - 100] ^= 0x10;
        File.WriteAllBytes(tmp.File("s.nvdb"), bytes);
        var e = Assert.Throws<InvalidDataException>(() => AdapterSnapshot.Load(tmp.File("s.nvdb")));
        Assert.That(e!.Message, Does.Contain("CRC32C"));
    }

    [Test]
    public void ForeignFiles_AreRefused_AndMissingOnesAreNotFound()
    {
        using var tmp = new TempDir();
        using (var a = Fixtures.Small()) a.Save(tmp.File("a.vdb"));
        var e = Assert.Throws<InvalidDataException>(() => AdapterSnapshot.Load(tmp.File("a.vdb")));
        Assert.That(e!.Message, Does.Contain("wrong magic"));
        File.WriteAllText(tmp.File("text.nvdb"), new string('x', 5000));
        Assert.Throws<InvalidDataException>(() => AdapterSnapshot.Load(tmp.File("text.nvdb")));
        Assert.Throws<FileNotFoundException>(() => AdapterSnapshot.Load(tmp.File("missing.nvdb")));
        Assert.Throws<IOException>(() => AdapterSnapshot.Load(tmp.Path), "a directory");
        using var adapter = ApplyFixtures.Random(9);
        using var s = AdapterSnapshot.Create(adapter);
        var e2 = Assert.Throws<IOException>(() => s.Save(tmp.File("no-such-dir/s.nvdb")));
        Assert.That(e2!.Message, Does.Contain("no-such-dir"));
        Assert.That(Directory.GetFiles(tmp.Path, ".*tmp*"), Is.Empty, "no temporary file is left behind");
    }

    [Test]
    public void ForeignBuffers_AreRefusedWithTheReason()
    {
        using var a = ApplyFixtures.Random(7);
        using var s = AdapterSnapshot.Create(a);
        var good = s.ToArray();
        var modules = s.Modules.Select(m => (m.Name, m.Rows, m.Cols, m.Scale, m.SlotBase)).ToList();

        var e = Assert.Throws<InvalidDataException>(() => AdapterSnapshot.FromNanoVdb(new byte[4096], "x", modules));
        Assert.That(e!.Message, Does.Contain("magic"));
        e = Assert.Throws<InvalidDataException>(() => AdapterSnapshot.FromNanoVdb(good.AsSpan(0, good.Length - 64), "x", modules));
        Assert.That(e!.Message, Does.Contain("truncated"));
        var wrongVersion = (byte[])good.Clone();
        wrongVersion[16 + 3] ^= 0x40; // major version lives in the top bits of mVersion
        e = Assert.Throws<InvalidDataException>(() => AdapterSnapshot.FromNanoVdb(wrongVersion, "x", modules));
        Assert.That(e!.Message, Does.Contain("version"));
        var wrongType = (byte[])good.Clone();
        BitConverter.GetBytes(2u).CopyTo(wrongType, 636); // GridType::Double (Float is 1)
        e = Assert.Throws<InvalidDataException>(() => AdapterSnapshot.FromNanoVdb(wrongType, "x", modules));
        Assert.That(e!.Message, Does.Contain("neither float nor fp16"));
        // a root tile table larger than the buffer (NanoVDB's partial checksum would read past the end)
        var hugeRoot = (byte[])good.Clone();
        long rootAt = 672 + BitConverter.ToInt64(good, 672 + 24);      // TreeData.mNodeOffset[3], relative to the tree
        int tableSizeAt = (int)rootAt + 24;                              // RootData: mBBox (24 B), then mTableSize
        Assert.That(BitConverter.ToUInt32(good, tableSizeAt), Is.GreaterThan(0u), "found the root's tile count");
        BitConverter.GetBytes(0x7FFFFFFFu).CopyTo(hugeRoot, tableSizeAt);
        e = Assert.Throws<InvalidDataException>(() => AdapterSnapshot.FromNanoVdb(hugeRoot, "x", modules));
        Assert.That(e!.Message, Does.Contain("tile table"));
        var wildRoot = (byte[])good.Clone();
        BitConverter.GetBytes(long.MaxValue).CopyTo(wildRoot, 672 + 24);
        e = Assert.Throws<InvalidDataException>(() => AdapterSnapshot.FromNanoVdb(wildRoot, "x", modules));
        Assert.That(e!.Message, Does.Contain("root"));
        // child references that leave the buffer (a tree walk, e.g. the GPU lookup, would follow them)
        var wildChild = (byte[])good.Clone();
        long lowerAt = 672 + BitConverter.ToInt64(good, 672 + 8);       // TreeData.mNodeOffset[1]: the first lower node
        for (int t = 0; t < 4096; t++) BitConverter.GetBytes(1L << 40).CopyTo(wildChild, (int)lowerAt + 1088 + t * 8); // its mTable
        e = Assert.Throws<InvalidDataException>(() => AdapterSnapshot.FromNanoVdb(wildChild, "x", modules));
        Assert.That(e!.Message, Does.Contain("child reference of a lower node"));
        // a module table that does not cover the stored tiles
        e = Assert.Throws<InvalidDataException>(() => AdapterSnapshot.FromNanoVdb(good, "x", modules.Take(1)));
        Assert.That(e!.Message, Does.Contain("lies in no module"));
        Assert.Throws<ArgumentException>(() => AdapterSnapshot.FromNanoVdb(ReadOnlySpan<byte>.Empty, "x", modules));
    }

    [Test]
    public void DisposedSnapshot_Throws_AndHandlesComeBack()
    {
        long before = NativeInfo.LiveHandles;
        using var a = ApplyFixtures.Random(8);
        var s = AdapterSnapshot.Create(a);
        s.Dispose();
        s.Dispose();
        Assert.Throws<ObjectDisposedException>(() => s.ToDense(a.Modules[0].Name));
        Assert.Throws<ObjectDisposedException>(() => new CpuApplier().Scatter(s, a.Modules[0].Name, new float[a.Modules[0].Rows * a.Modules[0].Cols]));
        a.Dispose();
        Assert.That(NativeInfo.LiveHandles, Is.LessThanOrEqualTo(before));
    }

    [Test]
    public void EmptyAdapter_MakesAnEmptySnapshot()
    {
        using var a = new SparseAdapter("empty");
        a.AddModule("model.layers.0.self_attn.q_proj", 16, 16);
        using var s = AdapterSnapshot.Create(a);
        Assert.That(s.LeafCount, Is.EqualTo(0));
        Assert.That(s.ToDense("model.layers.0.self_attn.q_proj"), Is.All.EqualTo(0f));
    }
}

using Hyprstream.Runtime;
using Hyprstream.Runtime.Snapshots;

namespace Hyprstream.Tests;

/// <summary>Native handles come back to the baseline after dispose and after finalization.</summary>
[NonParallelizable]
public class LeakTests
{
    private static long Settle()
    {
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        return NativeInfo.LiveHandles;
    }

    [Test]
    public void ThousandsOfAdapters_CreatedAndDisposed_LeaveNoHandles()
    {
        long baseline = Settle();
        for (int i = 0; i < 3000; i++)
        {
            using var a = new SparseAdapter($"a{i}");
            var m = a.AddModule("model.layers.0.mlp.up_proj", 64, 64);
            m.Set(i % 64, (i * 7) % 64, i);
            using var c = a.Clone();
            Assert.That(c.Modules[0].Get(i % 64, (i * 7) % 64), Is.EqualTo((float)i));
            _ = m.EnumerateActive().Count();
        }
        Assert.That(Settle(), Is.EqualTo(baseline));
    }

    [Test]
    public void AbandonedAdapters_AreFreedByTheirFinalizers()
    {
        long baseline = Settle();
        CreateAbandoned(500);
        Assert.That(Settle(), Is.EqualTo(baseline));
    }

    [Test]
    public void SaveLoadAndInfo_LeaveNoHandles()
    {
        using var dir = new TempDir();
        long baseline = Settle();
        for (int i = 0; i < 50; i++)
        {
            using (var a = Fixtures.Small(count: 20)) a.Save(dir.File("x.vdb"));
            using (var b = SparseAdapter.Load(dir.File("x.vdb"))) Assert.That(b.ActiveCount, Is.GreaterThan(0));
            Assert.That(AdapterFile.ReadInfo(dir.File("x.vdb")).Adapters, Has.Count.EqualTo(1));
            Assert.Throws<FileNotFoundException>(() => SparseAdapter.Load(dir.File("missing.vdb")));
        }
        Assert.That(Settle(), Is.EqualTo(baseline));
    }

    [Test]
    public void AbandonedEnumeration_ReleasesItsCursor()
    {
        using var a = Fixtures.Small();
        long baseline = Settle();
        for (int i = 0; i < 100; i++)
        {
            using var e = a.Modules[0].EnumerateActive(chunk: 4).GetEnumerator();
            Assert.That(e.MoveNext(), Is.True);
        }
        Assert.That(Settle(), Is.EqualTo(baseline));
    }

    [Test]
    public void TileCursors_DisposedOrAbandoned_LeaveNoHandles()
    {
        using var a = Fixtures.Small();
        long baseline = Settle();
        var rows = new int[2]; var cols = new int[2]; var values = new float[2 * TileMapping.TileSize];
        for (int i = 0; i < 100; i++)
        {
            using var cur = a.Modules[i % 2].OpenTileCursor();
            Assert.That(cur.Read(rows, cols, values), Is.GreaterThan(0));
        }
        Assert.That(Settle(), Is.EqualTo(baseline));
        AbandonTileCursors(a, 100);
        Assert.That(Settle(), Is.EqualTo(baseline), "finalizers free abandoned tile cursors");
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void AbandonTileCursors(SparseAdapter a, int n)
    {
        for (int i = 0; i < n; i++) _ = a.Modules[0].OpenTileCursor();
    }

    private static void CreateAbandoned(int n)
    {
        for (int i = 0; i < n; i++)
        {
            var a = new SparseAdapter($"lost{i}");
            a.AddModule("m", 8, 8).Set(1, 1, 1f);
        }
    }

    [Test]
    public void Snapshots_CreatedSavedLoadedAndDisposed_LeaveNoHandles()
    {
        using var tmp = new TempDir();
        using var a = ApplyFixtures.Random(70);
        long baseline = Settle();
        for (int i = 0; i < 200; i++)
        {
            using var s = AdapterSnapshot.Create(a, i % 2 == 0 ? SnapshotPrecision.Float32 : SnapshotPrecision.Fp16);
            if (i % 50 == 0)
            {
                s.Save(tmp.File("s.nvdb"));
                using var back = AdapterSnapshot.Load(tmp.File("s.nvdb"));
                Assert.That(back.LeafCount, Is.EqualTo(s.LeafCount));
            }
        }
        Assert.Throws<InvalidDataException>(() => AdapterSnapshot.FromNanoVdb(new byte[1024], "x", []));
        Assert.That(Settle(), Is.EqualTo(baseline));
        AbandonSnapshots(a, 100);
        Assert.That(Settle(), Is.EqualTo(baseline), "finalizers free abandoned snapshots");
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void AbandonSnapshots(SparseAdapter a, int n)
    {
        for (int i = 0; i < n; i++) _ = AdapterSnapshot.Create(a);
    }
}

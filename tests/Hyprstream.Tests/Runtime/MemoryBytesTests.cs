using Hyprstream.Runtime;

namespace Hyprstream.Tests;

/// <summary>
/// An adapter's memory size is kept without walking the tree after tile writes (SetTiles/AddTiles count the leaves
/// and internal nodes they add) and measured again after any other change. Either way it must equal what a fresh
/// walk of the same tree gives: a clone starts with no size known, so its MemoryBytes walks.
/// </summary>
public class MemoryBytesTests
{
    private const int T = TileMapping.TileSize;

    private static void AssertExact(SparseAdapter a, string after)
    {
        long kept = a.MemoryBytes;
        using var fresh = a.Clone();
        Assert.That(kept, Is.EqualTo(fresh.MemoryBytes), $"memory bytes after {after}");
    }

    [Test]
    public void KeptSize_EqualsAFreshWalk_AfterEveryKindOfWrite()
    {
        using var a = new SparseAdapter("mem");
        // Large modules spread tiles over many lower and upper internal nodes.
        var big = a.AddModule("model.layers.0.mlp.up_proj", 6144, 2048);
        var small = a.AddModule("model.layers.1.self_attn.q_proj", 64, 512);
        var rng = new Random(7);
        AssertExact(a, "adding modules");
        for (int step = 0; step < 40; step++)
        {
            var m = step % 3 == 0 ? small : big;
            int n = rng.Next(1, 24);
            var rows = new int[n]; var cols = new int[n];
            var values = new float[n * T];
            for (int i = 0; i < n; i++)
            {
                rows[i] = rng.Next((m.Rows + 7) / 8);
                cols[i] = rng.Next((m.Cols + 63) / 64);
                TileOperationTests.RandomTile(rng, m, rows[i], cols[i]).CopyTo(values, i * T);
                // Now and then an all-zero tile: it drops a stored tile (and its size must follow).
                if (rng.Next(8) == 0) Array.Clear(values, i * T, T);
            }
            string what;
            switch (step % 5)
            {
                case 0: case 1: case 2: m.SetTiles(rows, cols, values); what = "SetTiles"; break;
                case 3: m.AddTiles(rows, cols, values); what = "AddTiles"; break;
                default:
                    m.Set(rng.Next(m.Rows), rng.Next(m.Cols), 1.5f);
                    what = "a single Set";
                    break;
            }
            AssertExact(a, $"step {step} ({what})");
            // Asked twice without a change: the same answer (the second from the kept value).
            Assert.That(a.MemoryBytes, Is.EqualTo(a.MemoryBytes));
        }
        big.Prune(0.5f);
        AssertExact(a, "a prune");
        a.RemoveModule(small.Name);
        AssertExact(a, "removing a module");
    }

    [Test]
    public void KeptSize_GrowsByTheNodesATileWriteAdds_AndStaysForRewrites()
    {
        using var a = new SparseAdapter("grow");
        var m = a.AddModule("model.layers.0.mlp.down_proj", 2048, 6144);
        var rng = new Random(3);
        long empty = a.MemoryBytes;
        m.SetTiles([0], [0], TileOperationTests.RandomTile(rng, m, 0, 0, zeros: 0));
        long one = a.MemoryBytes;
        Assert.That(one, Is.GreaterThan(empty));
        m.SetTiles([0], [0], TileOperationTests.RandomTile(rng, m, 0, 0, zeros: 0));
        Assert.That(a.MemoryBytes, Is.EqualTo(one), "rewriting a stored tile adds nothing");
        m.AddTiles([0], [0], TileOperationTests.RandomTile(rng, m, 0, 0, zeros: 0));
        Assert.That(a.MemoryBytes, Is.EqualTo(one), "adding onto a stored tile adds nothing");
        AssertExact(a, "rewrites");
    }
}

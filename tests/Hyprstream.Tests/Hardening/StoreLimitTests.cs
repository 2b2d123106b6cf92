using Hyprstream.Runtime;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Tests.Hardening;

/// <summary>
/// Shapes past the documented limits are refused before anything is logged, so no record can brick a store; and
/// whether a module fits depends only on the adapter's current modules, so a replay agrees with the live store.
/// </summary>
[TestFixture]
public sealed class StoreLimitTests
{
    private static readonly StoreOptions Manual = new() { CheckpointWalBytes = 0, Fsync = FsyncPolicy.Never };

    [TestCase(int.MaxValue, int.MaxValue)]
    [TestCase(AdapterLimits.MaxModuleDimension + 1, 64)]
    [TestCase(8, AdapterLimits.MaxModuleDimension + 1)]
    [TestCase(0, 64)]
    [TestCase(-5, 64)]
    public void ShapePastTheLimits_IsRefusedBeforeLogging_AndTheStoreReopens(int rows, int cols)
    {
        using var dir = new TempDir();
        using (var store = AdapterStore.Open(dir.Path, Manual))
        {
            store.Create("a", null, new AdapterBatch().DefineModule("m", 8, 64));
            long before = store.Stats().WalRecordsAppended;
            Assert.Throws<ArgumentException>(() => store.Create("b", null, new AdapterBatch().DefineModule("huge", rows, cols)));
            Assert.Throws<ArgumentException>(() => store.Apply("a", new AdapterBatch().DefineModule("huge", rows, cols)));
            Assert.That(store.Stats().WalRecordsAppended, Is.EqualTo(before), "nothing logged");
            Assert.That(store.Names, Is.EqualTo(new[] { "a" }));
        }
        using (var store = AdapterStore.Open(dir.Path, Manual))
        {
            Assert.That(store.Recovery.Clean, Is.True);
            Assert.That(store.Info("a").Modules.Select(m => m.Name), Is.EqualTo(new[] { "m" }));
        }
    }

    [Test]
    public void TilesPastTheAdapterLimit_AreRefused_ButTheLargestLegalModuleIsAccepted()
    {
        using var dir = new TempDir();
        using var store = AdapterStore.Open(dir.Path, Manual);
        // 2^24 x 2^24 declares 2^21 * 2^18 = 2^39 tiles: the whole slot space, and legal.
        const int side = 1 << 24;
        store.Create("a", null, new AdapterBatch().DefineModule("full", side, side));
        var e = Assert.Throws<ArgumentException>(() => store.Apply("a", new AdapterBatch().DefineModule("one-more", 8, 64)));
        Assert.That(e!.Message, Does.Contain("declared 8x64 tiles").And.Contain(AdapterLimits.MaxTilesPerAdapter.ToString("N0")));
        store.Apply("a", new AdapterBatch().Set("full", [side - 1], [side - 1], [0.5f]));
        Assert.That(store.Read("a", a => a.Modules["full"].Get(side - 1, side - 1)), Is.EqualTo(0.5f));
    }

    [Test]
    public void ModulesRemovedAndDeclaredAgain_FitByTheCurrentModules_AndReplayAgrees()
    {
        using var dir = new TempDir();
        const int side = 1 << 24; // each declares the whole slot space
        using (var store = AdapterStore.Open(dir.Path, Manual))
        {
            store.Create("a", null, new AdapterBatch().DefineModule("small", 8, 64));
            store.Apply("a", new AdapterBatch().Set("small", [1], [2], [3f]));
            for (int i = 0; i < 3; i++)
            {
                // Space for one more full module opens only once "small" is gone; each round frees it again.
                Assert.Throws<ArgumentException>(() => store.Apply("a", new AdapterBatch().DefineModule($"full{i}", side, side)));
                store.Apply("a", new AdapterBatch().RemoveModule("small").DefineModule($"full{i}", side, side));
                store.Apply("a", new AdapterBatch().Set($"full{i}", [i], [i], [i + 1f]));
                store.Apply("a", new AdapterBatch().RemoveModule($"full{i}").DefineModule("small", 8, 64).Set("small", [1], [2], [3f]));
            }
            store.Apply("a", new AdapterBatch().DefineModule("half", side / 2, side).Set("half", [5], [6], [7f]));
        }
        using (var store = AdapterStore.Open(dir.Path, Manual))
        {
            Assert.That(store.Recovery.QuarantinedAdapters, Is.EqualTo(0), "every record replays");
            Assert.That(store.Info("a").Modules.Select(m => m.Name), Is.EqualTo(new[] { "small", "half" }));
            Assert.That(store.Read("a", a => (a.Modules["small"].Get(1, 2), a.Modules["half"].Get(5, 6))), Is.EqualTo((3f, 7f)));
            store.Checkpoint();
        }
        using (var store = AdapterStore.Open(dir.Path, Manual))
            Assert.That(store.Read("a", a => a.ActiveCount), Is.EqualTo(2));
    }
}

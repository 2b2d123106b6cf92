using System.Text.Json;
using Hyprstream.Runtime.Store;
using D = Hyprstream.Tests.StoreTestData;

namespace Hyprstream.Tests;

/// <summary>`hyprstream info --store DIR` reports recovery, WAL, snapshots and cache tiers of a real store.</summary>
[TestFixture]
public sealed class StoreCliTests
{
    [Test]
    public void InfoStore_ReportsAdaptersReplayedRecordsAndTiers()
    {
        using var dir = new TempDir();
        using (var s = AdapterStore.Open(dir.Path, new StoreOptions { CheckpointWalBytes = 0 }))
        {
            D.CreateWithModule(s, "alpha");
            s.Apply("alpha", D.Batch(0));
            s.Describe("alpha", ["math"], [1f, 2f]);
        }
        var text = Cli.Ok("info", "--store", dir.Path);
        Assert.That(text, Does.Contain("1 adapters").And.Contain("4 WAL records replayed").And.Contain("alpha").And.Contain("tags math"));
        Assert.That(text, Does.Contain("L1").And.Contain("L2").And.Contain("L3"));
        using var json = JsonDocument.Parse(Cli.Ok("info", "--store", dir.Path, "--json"));
        var stats = json.RootElement.GetProperty("stats");
        Assert.That(stats.GetProperty("Adapters").GetInt32(), Is.EqualTo(1));
        Assert.That(stats.GetProperty("Cache").GetProperty("Tiers").GetArrayLength(), Is.EqualTo(3));
        Assert.That(Cli.Fails("info", "--store", dir.File("missing")), Does.Contain("missing"));
    }
}

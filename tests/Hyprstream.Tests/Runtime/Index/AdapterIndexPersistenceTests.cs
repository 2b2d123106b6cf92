using Hyprstream.Runtime.Index;

namespace Hyprstream.Tests;

/// <summary>The index survives restarts, torn logs, damaged snapshots and crashes between snapshot steps.</summary>
public class AdapterIndexPersistenceTests
{
    private static List<string> Top(AdapterIndex index, double[] q) => index.Search(q, 10, ef: 200).Select(h => h.Adapter).ToList();

    [Test]
    public void Restart_RestoresEveryUpsertAndRemove()
    {
        using var dir = new TempDir();
        var data = IndexData.Clustered(500, 16, 5, 1);
        var q = IndexData.Clustered(1, 16, 5, 2)[0];
        List<string> before;
        using (var index = AdapterIndex.Open(dir.Path, 16, DistanceMetric.Cosine))
        {
            for (int i = 0; i < data.Length; i++) index.Upsert($"a{i}", data[i], [$"tenant={i % 3}"]);
            for (int i = 0; i < 50; i++) index.Remove($"a{i}");
            before = Top(index, q);
        }
        using var reopened = AdapterIndex.Open(dir.Path);
        Assert.That(reopened.Metric, Is.EqualTo(DistanceMetric.Cosine));
        Assert.That(reopened.Count, Is.EqualTo(450));
        Assert.That(reopened.Recovery.RecordsReplayed, Is.EqualTo(550));
        Assert.That(Top(reopened, q), Is.EqualTo(before));
        Assert.That(reopened.Search(q, 5, new IndexFilter { Tenant = "1" }).All(h => int.Parse(h.Adapter[1..]) % 3 == 1), Is.True);
    }

    [Test]
    public void Snapshot_ThenMoreWrites_RestartUsesSnapshotPlusLog()
    {
        using var dir = new TempDir();
        var data = IndexData.Random(300, 8, 3);
        using (var index = AdapterIndex.Open(dir.Path, 8, DistanceMetric.L2))
        {
            for (int i = 0; i < 200; i++) index.Upsert($"a{i}", data[i]);
            index.Snapshot();
            for (int i = 200; i < 300; i++) index.Upsert($"a{i}", data[i]);
        }
        using var reopened = AdapterIndex.Open(dir.Path);
        Assert.That(reopened.Count, Is.EqualTo(300));
        Assert.That(reopened.Recovery.Snapshot, Is.EqualTo(AdapterIndex.SnapshotFile));
        Assert.That(reopened.Recovery.RecordsReplayed, Is.EqualTo(100));
        Assert.That(reopened.Recovery.GraphRebuilt, Is.False);
        Assert.That(reopened.Search(data[250], 1)[0].Adapter, Is.EqualTo("a250"));
    }

    [Test]
    public void TornLogTail_IsDropped_AndReported_AndTheRestLoads()
    {
        using var dir = new TempDir();
        var data = IndexData.Random(20, 4, 4);
        using (var index = AdapterIndex.Open(dir.Path, 4, DistanceMetric.L2))
            for (int i = 0; i < 20; i++) index.Upsert($"a{i}", data[i]);
        var log = Path.Combine(dir.Path, AdapterIndex.LogFile);
        var bytes = File.ReadAllBytes(log);
        File.WriteAllBytes(log, bytes[..^7]);  // the last record loses its end, as if the process died mid-append
        using (var reopened = AdapterIndex.Open(dir.Path))
        {
            Assert.That(reopened.Count, Is.EqualTo(19));
            Assert.That(reopened.Recovery.DroppedLogBytes, Is.GreaterThan(0));
            Assert.That(reopened.Contains("a19"), Is.False);
            reopened.Upsert("a19", data[19]);   // appends after the cut, cleanly
        }
        using var again = AdapterIndex.Open(dir.Path);
        Assert.That(again.Count, Is.EqualTo(20));
        Assert.That(again.Recovery.DroppedLogBytes, Is.Zero);
    }

    [Test]
    public void BitFlipInTheLog_StopsReplayThere()
    {
        using var dir = new TempDir();
        var data = IndexData.Random(10, 4, 5);
        using (var index = AdapterIndex.Open(dir.Path, 4, DistanceMetric.L2))
            for (int i = 0; i < 10; i++) index.Upsert($"a{i}", data[i]);
        var log = Path.Combine(dir.Path, AdapterIndex.LogFile);
        var bytes = File.ReadAllBytes(log);
        int recordSize = bytes.Length / 10;
        bytes[recordSize * 6 + 20] ^= 0x10;  // inside the 7th record
        File.WriteAllBytes(log, bytes);
        using var reopened = AdapterIndex.Open(dir.Path);
        Assert.That(reopened.Count, Is.EqualTo(6));
        Assert.That(reopened.Recovery.DroppedLogBytes, Is.EqualTo(recordSize * 4));
    }

    [Test]
    public void DamagedGraphSection_IsRebuiltFromTheEntries()
    {
        using var dir = new TempDir();
        var data = IndexData.Clustered(400, 16, 4, 6);
        List<string> before;
        using (var index = AdapterIndex.Open(dir.Path, 16, DistanceMetric.L2))
        {
            for (int i = 0; i < data.Length; i++) index.Upsert($"a{i}", data[i]);
            index.Snapshot();
            before = Top(index, data[7]);
        }
        var snap = Path.Combine(dir.Path, AdapterIndex.SnapshotFile);
        var bytes = File.ReadAllBytes(snap);
        bytes[^10] ^= 0xFF;  // the graph section is last
        File.WriteAllBytes(snap, bytes);
        using var reopened = AdapterIndex.Open(dir.Path);
        Assert.That(reopened.Recovery.GraphRebuilt, Is.True);
        Assert.That(reopened.Count, Is.EqualTo(400));
        Assert.That(Top(reopened, data[7]), Is.EqualTo(before));
    }

    [Test]
    public void DamagedSnapshotEntries_FallBackToThePreviousSnapshotAndBothLogs()
    {
        using var dir = new TempDir();
        var data = IndexData.Random(300, 8, 7);
        using (var index = AdapterIndex.Open(dir.Path, 8, DistanceMetric.L2))
        {
            for (int i = 0; i < 100; i++) index.Upsert($"a{i}", data[i]);
            index.Snapshot();
            for (int i = 100; i < 200; i++) index.Upsert($"a{i}", data[i]);
            index.Snapshot();
            for (int i = 200; i < 300; i++) index.Upsert($"a{i}", data[i]);
        }
        var snap = Path.Combine(dir.Path, AdapterIndex.SnapshotFile);
        var bytes = File.ReadAllBytes(snap);
        bytes[60] ^= 0x01;  // inside the entries section
        File.WriteAllBytes(snap, bytes);
        using var reopened = AdapterIndex.Open(dir.Path);
        Assert.That(reopened.Recovery.Snapshot, Is.EqualTo(AdapterIndex.SnapshotFile + ".prev"));
        Assert.That(reopened.Count, Is.EqualTo(300));
        Assert.That(reopened.Search(data[150], 1)[0].Adapter, Is.EqualTo("a150"));
    }

    [Test]
    public void NoIndexInDirectory_IsAClearError()
    {
        using var dir = new TempDir();
        Assert.Throws<DirectoryNotFoundException>(() => AdapterIndex.Open(dir.Path));
        File.WriteAllText(Path.Combine(dir.Path, AdapterIndex.SnapshotFile), "garbage");
        var e = Assert.Throws<InvalidDataException>(() => AdapterIndex.Open(dir.Path));
        Assert.That(e!.Message, Does.Contain("not an index snapshot"));
    }
}

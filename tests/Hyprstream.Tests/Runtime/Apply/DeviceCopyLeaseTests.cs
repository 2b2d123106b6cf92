using Hyprstream.Runtime;
using Hyprstream.Runtime.Store;
using Hyprstream.Runtime.Snapshots;
using Hyprstream.Runtime.Apply;

namespace Hyprstream.Tests;

/// <summary>
/// The lease rule of the CUDA backend's snapshot copies (<see cref="DeviceCopies{TKey, TCopy}"/>, the cache
/// <see cref="CudaApplier"/> keeps), on the CPU with a counted free action: evicting a copy that a launch plan still
/// leases frees it when the last lease ends, not before. And the snapshot tier evicts through
/// <see cref="IAdapterApplier.Evict"/> whatever the backend.
/// </summary>
public class DeviceCopyLeaseTests
{
    private sealed class Key;
    private sealed class Copy(int id) { public int Id { get; } = id; public bool Freed; }

    private static (DeviceCopies<Key, Copy> Copies, List<int> Freed, Func<Key, Copy> Upload) Make()
    {
        var freed = new List<int>();
        int next = 0;
        var copies = new DeviceCopies<Key, Copy>(c => { Assert.That(c.Freed, Is.False, "freed twice"); c.Freed = true; freed.Add(c.Id); });
        return (copies, freed, _ => new Copy(++next));
    }

    [Test]
    public void Evict_OfALeasedCopy_FreesItWhenTheLastLeaseEnds()
    {
        var (copies, freed, upload) = Make();
        var key = new Key();
        var plan1 = copies.Acquire(key, upload);   // a launch plan pointing into copy 1
        var plan2 = copies.Acquire(key, upload);   // a second plan, same copy
        Assert.That(plan2.Copy, Is.SameAs(plan1.Copy));

        Assert.That(copies.Evict(key), Is.True);
        Assert.That(freed, Is.Empty, "evicting a copy that live plans point to must not free it");
        Assert.That(plan1.Copy.Freed, Is.False);
        Assert.That(copies.Contains(key), Is.False, "evicted: out of the cache at once");

        plan1.Dispose();
        Assert.That(freed, Is.Empty, "one plan still uses it");
        plan2.Dispose();
        Assert.That(freed, Is.EqualTo(new[] { 1 }), "the last lease frees it");
        plan2.Dispose();
        Assert.That(freed, Is.EqualTo(new[] { 1 }), "a lease releases once");
        Assert.That(() => plan2.Copy, Throws.InstanceOf<ObjectDisposedException>());
    }

    [Test]
    public void Evict_WithoutLeases_FreesAtOnce_AndTheNextUseUploadsAgain()
    {
        var (copies, freed, upload) = Make();
        var key = new Key();
        copies.Acquire(key, upload).Dispose();      // resident, no lease left
        Assert.That(freed, Is.Empty, "the cache keeps the copy");
        Assert.That(copies.Contains(key), Is.True);
        Assert.That(copies.Evict(key), Is.True);
        Assert.That(freed, Is.EqualTo(new[] { 1 }));
        Assert.That(copies.Evict(key), Is.False, "nothing left to evict");

        using var again = copies.Acquire(key, upload);
        Assert.That(again.Copy.Id, Is.EqualTo(2), "a new upload after eviction");
        Assert.That(freed, Is.EqualTo(new[] { 1 }));
    }

    [Test]
    public void Reupload_WhileAnEvictedCopyIsLeased_KeepsBothUntilTheirOwnersEnd()
    {
        var (copies, freed, upload) = Make();
        var key = new Key();
        var oldPlan = copies.Acquire(key, upload);
        copies.Evict(key);
        var newPlan = copies.Acquire(key, upload);
        Assert.That((oldPlan.Copy.Id, newPlan.Copy.Id), Is.EqualTo((1, 2)));
        newPlan.Dispose();
        Assert.That(freed, Is.Empty, "copy 2 is cached, copy 1 leased");
        oldPlan.Dispose();
        Assert.That(freed, Is.EqualTo(new[] { 1 }));
        copies.Evict(key);
        Assert.That(freed, Is.EqualTo(new[] { 1, 2 }));
    }

    [Test]
    public void ConcurrentLeasesAndEvictions_FreeEachCopyExactlyOnce()
    {
        var (copies, freed, upload) = Make();
        var key = new Key();
        Parallel.For(0, 2000, i =>
        {
            using var l = copies.Acquire(key, upload);
            Assert.That(l.Copy.Freed, Is.False, "a leased copy is never freed");
            if (i % 7 == 0) copies.Evict(key);
        });
        copies.Evict(key);
        lock (freed) Assert.That(freed, Is.Unique);
        Assert.That(copies.Contains(key), Is.False);
    }

    private sealed class RecordingApplier : IAdapterApplier
    {
        private readonly CpuApplier _cpu = new();
        public readonly List<AdapterSnapshot> Evicted = new();
        public ApplyBackend Kind => ApplyBackend.Cpu;
        public string Device => "recording";
        public void Gemm(AdapterSnapshot s, string m, ReadOnlySpan<float> x, Span<float> y, int batch, float scale = 1f) => _cpu.Gemm(s, m, x, y, batch, scale);
        public void GemmMixed(IReadOnlyList<AdapterSnapshot> s, ReadOnlySpan<int> o, string m, ReadOnlySpan<float> x, Span<float> y, float scale = 1f) => _cpu.GemmMixed(s, o, m, x, y, scale);
        public void Scatter(AdapterSnapshot s, string m, Span<float> w, float scale = 1f) => _cpu.Scatter(s, m, w, scale);
        public void Scatter(AdapterSnapshot s, string m, Span<Half> w, float scale = 1f) => _cpu.Scatter(s, m, w, scale);
        public void ScatterBf16(AdapterSnapshot s, string m, Span<ushort> w, float scale = 1f) => _cpu.ScatterBf16(s, m, w, scale);
        public void Lookup(AdapterSnapshot s, string m, ReadOnlySpan<int> r, ReadOnlySpan<int> c, Span<float> v) => _cpu.Lookup(s, m, r, c, v);
        public void Evict(AdapterSnapshot snapshot) => Evicted.Add(snapshot);
        public void Dispose() => _cpu.Dispose();
    }

    [Test]
    public void SnapshotTier_EvictsThroughTheApplierInterface_OnlyWhenTheLastLeaseEnds()
    {
        const string M = "model.layers.0.mlp.up_proj";
        using var dir = new TempDir();
        using var store = AdapterStore.Open(dir.Path, new StoreOptions { CheckpointWalBytes = 0, Fsync = FsyncPolicy.Never });
        store.Create("a", null, new AdapterBatch().DefineModule(M, 64, 256).Set(M, [0], [0], [1f]));
        using var applier = new RecordingApplier();
        using var tier = new SnapshotTier(store, long.MaxValue, applier);
        AdapterSnapshot snapshot;
        using (var l = tier.Acquire("a")) snapshot = l.Snapshot;
        var held = tier.Acquire("a");
        Assert.That(tier.Evict("a"), Is.False, "leased");
        Assert.That(applier.Evicted, Is.Empty);
        held.Dispose();
        Assert.That(tier.Evict("a"), Is.True);
        Assert.That(applier.Evicted, Is.EqualTo(new[] { snapshot }), "the tier tells any backend, not just a concrete type");
    }

    [Test]
    public void CpuApplier_Evict_IsANoOp()
    {
        using var a = ApplyFixtures.Random(5);
        using var s = AdapterSnapshot.Create(a);
        using var cpu = new CpuApplier();
        var m = s.Modules[0];
        var before = new float[1];
        cpu.Lookup(s, m.Name, [0], [0], before);
        cpu.Evict(s);
        cpu.Evict(s);
        var after = new float[1];
        cpu.Lookup(s, m.Name, [0], [0], after);
        Assert.That(after, Is.EqualTo(before));
    }
}

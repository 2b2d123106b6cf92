using Hyprstream.Runtime;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Tests.Hardening;

/// <summary>
/// The command line's file inputs, damaged at random (cut, bits flipped, runs overwritten, garbage appended): every
/// command that reads them succeeds or fails with one clear line and exit code 1 — no crash, no hang, no stack trace —
/// and a damaged store still opens (or is refused with a clear error) on the next start.
/// </summary>
[TestFixture]
public sealed class CliFileFuzzTests
{
    private static byte[] Mutate(byte[] src, Random rng)
    {
        var b = (byte[])src.Clone();
        switch (rng.Next(5))
        {
            case 0: return b[..rng.Next(0, b.Length)];
            case 1:
                for (int i = rng.Next(1, 4); i > 0; i--) b[rng.Next(b.Length)] ^= (byte)(1 << rng.Next(8));
                return b;
            case 2:
            {
                int at = rng.Next(b.Length), n = Math.Min(b.Length - at, rng.Next(1, 64));
                rng.NextBytes(b.AsSpan(at, n));
                return b;
            }
            case 3:
            {
                int at = rng.Next(b.Length), n = Math.Min(b.Length - at, rng.Next(1, 64));
                b.AsSpan(at, n).Fill(rng.Next(2) == 0 ? (byte)0 : (byte)0xFF);
                return b;
            }
            default:
                var tail = new byte[rng.Next(1, 100)];
                rng.NextBytes(tail);
                return [.. b, .. tail];
        }
    }

    private static void AssertClean(Cli.Result r, string what)
    {
        Assert.That(r.ExitCode, Is.EqualTo(0).Or.EqualTo(1), $"{what}: exit {r.ExitCode}\n{r.Err}");
        if (r.ExitCode == 0) return;
        var lines = r.Err.Trim().Split('\n');
        Assert.That(lines, Has.Length.EqualTo(1), $"{what}: one line of error, got\n{r.Err}");
        Assert.That(lines[0], Does.StartWith("hyprstream: ").And.Not.Contain("   at "), what);
    }

    [Test]
    public void DamagedAdapterAndSnapshotFiles_EveryCommandThatReadsThem_SucceedsOrFailsCleanly()
    {
        using var dir = new TempDir();
        using (var a = Fixtures.Small(count: 800)) a.Save(dir.File("a.vdb"));
        using (var b = Fixtures.Small("b", seed: 9, count: 300)) b.Save(dir.File("b.vdb"), new SaveOptions { Compression = FileCompression.Blosc });
        Cli.Ok("snapshot", "create", dir.File("a.vdb"), dir.File("a.nvdb"));
        var rng = new Random(20261129);
        int failures = 0;
        for (int i = 0; i < 30; i++)
        {
            foreach (var src in new[] { "a.vdb", "b.vdb" })
            {
                var bytes = Mutate(File.ReadAllBytes(dir.File(src)), rng);
                File.WriteAllBytes(dir.File("m.vdb"), bytes);
                var what = $"mutation {i} of {src} ({bytes.Length} bytes)";
                var results = new[]
                {
                    Cli.Run("info", dir.File("m.vdb")),
                    Cli.Run("info", dir.File("m.vdb"), "--json"),
                    Cli.Run("snapshot", "create", dir.File("m.vdb"), dir.File("m.nvdb")),
                    Cli.Run("prune", dir.File("m.vdb"), "--tolerance", "0.01", "-o", dir.File("p.vdb")),
                    Cli.Run("merge", dir.File("m.vdb"), dir.File("a.vdb"), "-o", dir.File("g.vdb")),
                    Cli.Run("export", dir.File("m.vdb"), "-o", dir.File("e.safetensors")),
                };
                foreach (var r in results) AssertClean(r, what);
                failures += results.Count(r => r.ExitCode != 0);
            }
            var nvdb = Mutate(File.ReadAllBytes(dir.File("a.nvdb")), rng);
            File.WriteAllBytes(dir.File("m2.nvdb"), nvdb);
            var info = Cli.Run("snapshot", "info", dir.File("m2.nvdb"));
            AssertClean(info, $"mutation {i} of a.nvdb");
            failures += info.ExitCode != 0 ? 1 : 0;
        }
        Assert.That(failures, Is.GreaterThan(30), "most damaged files are refused");
        AssertClean(Cli.Run("info", dir.File("a.vdb")), "the intact file");
        Assert.That(Cli.Run("info", dir.File("a.vdb")).ExitCode, Is.EqualTo(0));
    }

    [Test]
    public void DamagedPeftAdapters_ImportPeft_SucceedsOrFailsCleanly()
    {
        using var dir = new TempDir();
        var lora = PeftFixtures.WriteLora(dir.File("lora"), rank: 2);
        var tensors = File.ReadAllBytes(Path.Combine(lora.Dir, "adapter_model.safetensors"));
        var config = File.ReadAllBytes(Path.Combine(lora.Dir, "adapter_config.json"));
        var rng = new Random(77);
        int failures = 0;
        for (int i = 0; i < 25; i++)
        {
            bool damageConfig = i % 5 == 4;
            var bytes = damageConfig ? Mutate(config, rng) : Mutate(tensors, rng);
            // The safetensors header (a length and JSON) is where most damage lands when it is not the data.
            if (!damageConfig && i % 2 == 0 && bytes.Length > 16) bytes[8 + rng.Next(Math.Min(200, bytes.Length - 8))] = (byte)"{}[]\",:0-9e"[rng.Next(12)];
            File.WriteAllBytes(Path.Combine(lora.Dir, damageConfig ? "adapter_config.json" : "adapter_model.safetensors"), bytes);
            var r = Cli.Run("import-peft", lora.Dir, "-o", dir.File("o.vdb"), "--density", "0.1");
            AssertClean(r, $"mutation {i} ({(damageConfig ? "config" : "tensors")}, {bytes.Length} bytes)");
            failures += r.ExitCode != 0 ? 1 : 0;
            File.WriteAllBytes(Path.Combine(lora.Dir, "adapter_model.safetensors"), tensors);
            File.WriteAllBytes(Path.Combine(lora.Dir, "adapter_config.json"), config);
        }
        Assert.That(failures, Is.GreaterThan(5));
        Cli.Ok("import-peft", lora.Dir, "-o", dir.File("o.vdb"), "--density", "0.1");
    }

    [Test]
    public void DamagedStoreFiles_InfoStoreAndTheNextOpen_RecoverOrRefuseClearly()
    {
        var rng = new Random(5);
        for (int round = 0; round < 12; round++)
        {
            using var dir = new TempDir();
            using (var store = AdapterStore.Open(dir.Path, new StoreOptions { CheckpointWalBytes = 0 }))
            {
                foreach (var n in new[] { "a", "b" })
                {
                    store.Create(n, "base", new AdapterBatch().DefineModule("m", 64, 128));
                    store.Apply(n, new AdapterBatch().Set("m", [1, 2, 3], [4, 5, 6], [1f, 2f, 3f]));
                }
                store.Checkpoint();
                store.Apply("a", new AdapterBatch().Add("m", [1], [4], [0.5f]));
                store.Describe("b", ["x"], [1f, 2f]);
            }
            var files = Directory.EnumerateFiles(dir.Path, "*", SearchOption.AllDirectories)
                .Where(f => !f.EndsWith("lock", StringComparison.Ordinal) && new FileInfo(f).Length > 0).Order().ToList();
            var victim = files[rng.Next(files.Count)];
            File.WriteAllBytes(victim, Mutate(File.ReadAllBytes(victim), rng));
            var what = $"round {round}: damaged {Path.GetRelativePath(dir.Path, victim)}";

            AssertClean(Cli.Run("info", "--store", dir.Path), what);
            AdapterStore store2;
            try { store2 = AdapterStore.Open(dir.Path, new StoreOptions { CheckpointWalBytes = 0 }); }
            catch (Exception e) when (e is InvalidDataException or IOException)
            {
                TestContext.Out.WriteLine($"{what}: open refused: {e.Message}");
                Assert.That(e.Message, Does.Contain(dir.Path.Split('/').Last()).Or.Contain("manifest").Or.Contain("damaged"), what);
                continue;
            }
            using (store2)
            {
                TestContext.Out.WriteLine($"{what}: opened: {store2.Recovery}");
                // Every adapter reads, or says clearly why not; the store keeps taking writes.
                foreach (var n in store2.Names.Concat(store2.Quarantined.Select(q => q.Name)))
                {
                    try { store2.Read(n, a => a.ActiveCount); }
                    catch (Exception e) when (e is StoreDamagedException or AdapterQuarantinedException)
                    {
                        TestContext.Out.WriteLine($"{what}: {n}: {e.GetType().Name}: {e.Message}");
                        Assert.That(e.Message, Does.Contain(n).Or.Contain("damaged").Or.Contain("quarantined"), what);
                    }
                }
                store2.Create("c", null, new AdapterBatch().DefineModule("m", 8, 64));
            }
            using var again = AdapterStore.Open(dir.Path, new StoreOptions { CheckpointWalBytes = 0 });
            Assert.That(again.Contains("c"), Is.True, what);
        }
    }
}

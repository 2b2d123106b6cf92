using System.Collections.Concurrent;
using System.Diagnostics;
using Hyprstream.Runtime;
using Child = Hyprstream.TestChild.Program;

namespace Hyprstream.Tests;

/// <summary>
/// Crash safety of <see cref="SparseAdapter.Save"/>: a writer SIGKILLed in the middle of replacing a file leaves
/// either the old file or the new one, whole — never a torn or unreadable one. The writer is a separate process
/// (Hyprstream.TestChild), so the kill is real.
/// </summary>
[TestFixture]
public sealed class CrashSaveTests
{
    private const int ChildLayers = 2;  // 8 modules of 2048×2048, half their tiles dense: ≈ 17 M weights, ≈ 50 MB on disk

    /// <summary>A running child process; killed (SIGKILL, whole tree) on dispose if still alive.</summary>
    private sealed class ChildProcess : IDisposable
    {
        private readonly Process _p;
        private readonly ConcurrentQueue<string> _stdout = new();
        private readonly ConcurrentQueue<string> _stderr = new();
        private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _saves;

        public ChildProcess(params string[] args)
        {
            var dll = Path.Combine(AppContext.BaseDirectory, "Hyprstream.TestChild.dll");
            Assert.That(File.Exists(dll), Is.True, $"{dll} is missing (Hyprstream.Tests references Hyprstream.TestChild)");
            var psi = new ProcessStartInfo(DotnetHost())
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            psi.ArgumentList.Add(dll);
            foreach (var a in args) psi.ArgumentList.Add(a);
            _p = new Process { StartInfo = psi };
            _p.OutputDataReceived += (_, e) =>
            {
                if (e.Data == null) { _ready.TrySetException(new InvalidOperationException("child closed stdout before 'ready'")); return; }
                _stdout.Enqueue(e.Data);
                if (e.Data == "ready") _ready.TrySetResult();
                else if (e.Data.StartsWith("saved ", StringComparison.Ordinal)) Interlocked.Increment(ref _saves);
            };
            _p.ErrorDataReceived += (_, e) => { if (e.Data != null) _stderr.Enqueue(e.Data); };
            _p.Start();
            _p.BeginOutputReadLine();
            _p.BeginErrorReadLine();
        }

        /// <summary>Saves the child reported as finished ("saved N" lines) so far.</summary>
        public int Saves => Volatile.Read(ref _saves);
        public bool HasExited => _p.HasExited;
        public string Output => $"stdout:\n{string.Join('\n', _stdout)}\nstderr:\n{string.Join('\n', _stderr)}";

        public void WaitReady(TimeSpan timeout)
        {
            try
            {
                if (!_ready.Task.Wait(timeout)) Assert.Fail($"child was not ready within {timeout}\n{Output}");
            }
            catch (AggregateException e)
            {
                _p.WaitForExit(5000);
                Assert.Fail($"child failed before 'ready': {e.InnerException?.Message}\n{Output}");
            }
        }

        /// <summary>SIGKILL (Process.Kill is SIGKILL on Linux), then wait until it is gone.</summary>
        public void Kill()
        {
            try { _p.Kill(entireProcessTree: true); }
            catch (InvalidOperationException) { }  // already exited
            Assert.That(_p.WaitForExit(30_000), Is.True, "killed child did not exit");
        }

        public void Dispose()
        {
            try { if (!_p.HasExited) Kill(); }
            finally { _p.Dispose(); }
        }

        private static string DotnetHost()
        {
            var self = Environment.ProcessPath;
            if (self != null && Path.GetFileNameWithoutExtension(self) == "dotnet") return self;
            var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
            if (!string.IsNullOrEmpty(host) && File.Exists(host)) return host;
            return "dotnet";
        }
    }

    private static string[] TempFiles(string dir, string target) =>
        Directory.GetFiles(dir, "." + Path.GetFileName(target) + ".tmp-*");

    public enum KillPoint
    {
        /// <summary>Kill a random 0–300 ms after "ready": before, during or just after the first save.</summary>
        RandomDelayAfterReady,
        /// <summary>Kill as soon as the first save's temp file exists and has grown: mid-write.</summary>
        TempFileGrowing,
        /// <summary>Kill a random 0–300 ms after the first save finished: the file is new, a second save is under way.</summary>
        DuringLaterSave,
    }

    [Test]
    public void SaveKilledAtAnyPoint_LeavesTheOldOrTheNewFileWhole()
    {
        using var dir = new TempDir();
        var path = dir.File("a.vdb");
        using var original = Fixtures.Small("original", seed: 5, count: 800);
        var originalSnapshot = Fixtures.Snapshot(original);
        var rng = new Random(20240611);
        var outcomes = new List<string>();
        int killedMidWrite = 0;

        // Alternate the kill strategies; a float32 and a half writer both get killed mid-write.
        var plan = new (KillPoint Point, bool Half)[]
        {
            (KillPoint.TempFileGrowing, false), (KillPoint.RandomDelayAfterReady, false), (KillPoint.TempFileGrowing, true),
            (KillPoint.RandomDelayAfterReady, true), (KillPoint.TempFileGrowing, false), (KillPoint.RandomDelayAfterReady, false),
            (KillPoint.RandomDelayAfterReady, false), (KillPoint.DuringLaterSave, false), (KillPoint.DuringLaterSave, true),
        };
        for (int i = 0; i < plan.Length; i++)
        {
            var (point, half) = plan[i];
            // Each round starts from the original file, so "old" always means the original content.
            foreach (var t in TempFiles(dir.Path, path)) File.Delete(t);
            original.Save(path);
            Assert.That(TempFiles(dir.Path, path), Is.Empty);
            int delayMs = rng.Next(0, 301);

            int savesBeforeKill;
            bool tempBeforeKill;
            string childOutput;
            using (var child = new ChildProcess("save-loop", path, ChildLayers.ToString(), half ? "half" : "float"))
            {
                child.WaitReady(TimeSpan.FromMinutes(2));
                switch (point)
                {
                    case KillPoint.RandomDelayAfterReady:
                        Thread.Sleep(delayMs);
                        break;
                    case KillPoint.TempFileGrowing:
                        WaitForGrowingTempFile(dir.Path, path, child, TimeSpan.FromSeconds(60));
                        break;
                    case KillPoint.DuringLaterSave:
                        var sw = Stopwatch.StartNew();
                        while (child.Saves == 0)
                        {
                            if (child.HasExited || sw.Elapsed > TimeSpan.FromSeconds(60)) Assert.Fail($"child never finished a save\n{child.Output}");
                            Thread.Sleep(1);
                        }
                        Thread.Sleep(delayMs);
                        break;
                }
                tempBeforeKill = TempFiles(dir.Path, path).Length > 0;
                child.Kill();
                savesBeforeKill = child.Saves;
                childOutput = child.Output;
                Assert.That(childOutput, Does.Not.Contain("Exception"), "the child itself must not fail");
            }

            var leftovers = TempFiles(dir.Path, path);
            if (leftovers.Length > 0) killedMidWrite++;
            string what;
            try
            {
                what = CheckOldOrNew(path, originalSnapshot, half, savesBeforeKill);
                // Leftover temp files must not get in the way of the next save or load either.
                using var again = SparseAdapter.Load(path);
                Assert.That(again.Name, Is.EqualTo(what == "old" ? "original" : Child.BigName));
            }
            catch (Exception e) when (e is not AssertionException)
            {
                Assert.Fail($"round {i} ({point}, {(half ? "half" : "float32")}, delay {delayMs} ms): loading after the kill failed: {e}\n{childOutput}");
                throw;
            }
            if (point == KillPoint.DuringLaterSave) Assert.That(what, Is.EqualTo("new"), $"round {i}: a save had finished");
            outcomes.Add($"round {i}: {point}{(point != KillPoint.TempFileGrowing ? $" {delayMs} ms" : "")}, " +
                         $"{(half ? "half" : "float32")}: {what} file, {savesBeforeKill} saves reported, temp file at kill: {tempBeforeKill}, " +
                         $"leftover temp files: {leftovers.Length}");
        }
        TestContext.Out.WriteLine(string.Join('\n', outcomes));
        Assert.That(killedMidWrite, Is.GreaterThan(0), "no round killed a save mid-write (no temp file was left):\n" + string.Join('\n', outcomes));
    }

    /// <summary>Waits until the first save's temp file exists and has grown past its first observed size.</summary>
    private static void WaitForGrowingTempFile(string dir, string target, ChildProcess child, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        long firstSize = -1;
        while (sw.Elapsed < timeout)
        {
            if (child.HasExited) Assert.Fail($"child exited early\n{child.Output}");
            if (child.Saves > 0) return;  // missed the first save's window; kill during a later one
            foreach (var f in TempFiles(dir, target))
            {
                long size;
                try { size = new FileInfo(f).Length; }
                catch (IOException) { continue; }
                if (firstSize < 0) firstSize = size;
                else if (size > firstSize && size > 0) return;
            }
            Thread.Sleep(1);
        }
        Assert.Fail($"no growing temp file appeared within {timeout}\n{child.Output}");
    }

    /// <summary>
    /// Loads <paramref name="path"/> and checks it is exactly the original adapter or exactly the child's big adapter;
    /// returns "old" or "new".
    /// </summary>
    private static string CheckOldOrNew(string path, Dictionary<(string, int, int), float> original, bool half, int savesBeforeKill)
    {
        using var loaded = SparseAdapter.Load(path);
        if (loaded.Name == "original")
        {
            // Once the child reported a save, the rename happened: the old file may no longer be there.
            Assert.That(savesBeforeKill, Is.EqualTo(0), "the child reported a finished save, yet the old file is still in place");
            Assert.That(loaded.Modules.Select(m => m.Name),
                Is.EqualTo(new[] { "model.layers.0.self_attn.q_proj", "model.layers.1.mlp.down_proj" }));
            Assert.That(loaded.ActiveCount, Is.EqualTo(original.Count));
            Assert.That(Fixtures.Snapshot(loaded), Is.EquivalentTo(original));
            return "old";
        }

        Assert.That(loaded.Name, Is.EqualTo(Child.BigName), "the file is neither the old nor the new adapter");
        Assert.That(loaded.BaseModel, Is.EqualTo("Qwen/Qwen3-1.7B"));
        Assert.That(loaded.Modules.Count, Is.EqualTo(ChildLayers * Child.BigProjections.Length));
        const long perModule = (long)Child.BigDim * Child.BigDim / 2;  // (tileRow + tileCol) even: exactly half the tiles
        Assert.That(loaded.ActiveCount, Is.EqualTo(perModule * loaded.Modules.Count));
        var dense = new float[Child.BigDim * Child.BigDim];
        for (int layer = 0; layer < ChildLayers; layer++)
            for (int p = 0; p < Child.BigProjections.Length; p++)
            {
                var m = loaded.Modules[$"model.layers.{layer}.self_attn.{Child.BigProjections[p]}"];
                Assert.That((m.Rows, m.Cols, m.Scale), Is.EqualTo((Child.BigDim, Child.BigDim, 2f)));
                Assert.That(m.ActiveCount, Is.EqualTo(perModule), m.Name);
                m.ToDense(dense);
                for (int r = 0; r < Child.BigDim; r++)
                    for (int c = 0; c < Child.BigDim; c++)
                    {
                        float expected = !Child.BigActive(r, c) ? 0f
                            : half ? (float)(Half)Child.BigValue(layer, p, r, c) : Child.BigValue(layer, p, r, c);
                        float got = dense[r * Child.BigDim + c];
                        if (got != expected) Assert.Fail($"{m.Name}[{r},{c}] = {got}, expected {expected} (half: {half})");
                    }
            }
        return "new";
    }

    [Test]
    public void SaveIntoMissingDirectory_ThrowsIOExceptionAndCreatesNothing()
    {
        using var dir = new TempDir();
        using var a = Fixtures.Small();
        var missing = Path.Combine(dir.Path, "no-such-dir");
        var path = Path.Combine(missing, "a.vdb");

        var e = Assert.Throws(Is.InstanceOf<IOException>(), () => a.Save(path))!;
        Assert.That(e.Message, Does.Contain("a.vdb"), "the message names the file");
        Assert.That(Directory.Exists(missing), Is.False, "Save must not create directories");
        Assert.That(File.Exists(path), Is.False);
        Assert.That(Directory.GetFileSystemEntries(dir.Path), Is.Empty, "no temp file anywhere");

        // Half precision takes the same path.
        Assert.Throws(Is.InstanceOf<IOException>(), () => a.Save(path, SaveOptions.Half));
        Assert.That(Directory.GetFileSystemEntries(dir.Path), Is.Empty);
    }
}

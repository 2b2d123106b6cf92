using System.Diagnostics;

namespace Hyprstream.Tests;

/// <summary>
/// Counts operations in flight on several threads, so a concurrency test can show that its operations really ran at
/// the same time: a test that only starts threads may, on a loaded machine, have run them one after another.
/// <see cref="Overlapped"/> counts the calls that began while another call of the same <see cref="Overlap"/> was
/// still in flight (inside a lock or not: a call blocked on a lock is in flight too).
/// </summary>
internal sealed class Overlap
{
    private int _inFlight;
    private int _max;
    private long _overlapped;
    private long _calls;

    public int InFlight => Volatile.Read(ref _inFlight);
    public int Max => Volatile.Read(ref _max);
    public long Overlapped => Interlocked.Read(ref _overlapped);
    public long Calls => Interlocked.Read(ref _calls);

    public void Run(Action op)
    {
        Enter();
        try { op(); }
        finally { Exit(); }
    }

    public T Run<T>(Func<T> op)
    {
        Enter();
        try { return op(); }
        finally { Exit(); }
    }

    private void Enter()
    {
        Interlocked.Increment(ref _calls);
        int n = Interlocked.Increment(ref _inFlight);
        if (n > 1) Interlocked.Increment(ref _overlapped);
        for (int m = Volatile.Read(ref _max); n > m; m = Volatile.Read(ref _max))
            if (Interlocked.CompareExchange(ref _max, n, m) == m) break;
    }

    private void Exit() => Interlocked.Decrement(ref _inFlight);

    public override string ToString() => $"{Calls} calls, {Overlapped} began while another was in flight, at most {Max} at once";

    /// <summary>
    /// Waits until <paramref name="done"/> holds: progress is measured in events, not in time. The limit is only a
    /// hang guard (a deadlock or a stuck thread), never a budget: it fails the test with <paramref name="describe"/>.
    /// </summary>
    public static void WaitUntil(Func<bool> done, Func<string> describe, int hangGuardSeconds = 120)
    {
        var sw = Stopwatch.StartNew();
        while (!done())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(hangGuardSeconds))
                Assert.Fail($"no progress to the end condition after {hangGuardSeconds} s (hang guard): {describe()}");
            Thread.Sleep(5);
        }
    }
}

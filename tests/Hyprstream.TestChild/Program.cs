using System.Globalization;
using Hyprstream.Runtime;

namespace Hyprstream.TestChild;

/// <summary>
/// Child process for crash tests: the test starts it, waits for a known point, and SIGKILLs it.
/// Usage: Hyprstream.TestChild &lt;command&gt; [args...]. Each command writes "ready" to stdout once it is about to
/// begin the operation the test wants to interrupt. Add new commands to <see cref="Commands"/>.
/// </summary>
public static class Program
{
    private static readonly Dictionary<string, (string Usage, Func<string[], int> Run)> Commands = new(StringComparer.Ordinal)
    {
        ["save-loop"] = ("save-loop <path> <layers> [half]", SaveLoop),
        ["store-stream"] = ("store-stream <dir> <threads> <fsync> <snapshotWalBytes> <l1Bytes> <seed>", StoreStream),
    };

    public static int Main(string[] args)
    {
        if (args.Length == 0 || !Commands.TryGetValue(args[0], out var cmd))
        {
            Console.Error.WriteLine("usage: Hyprstream.TestChild <command> [args]; commands:");
            foreach (var (_, c) in Commands) Console.Error.WriteLine("  " + c.Usage);
            return 2;
        }
        try
        {
            return cmd.Run(args[1..]);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(e);
            return 1;
        }
    }

    /// <summary>Prints a line and flushes it, so the parent sees it before we go on.</summary>
    private static void Say(string line)
    {
        Console.Out.WriteLine(line);
        Console.Out.Flush();
    }

    /// <summary>
    /// Builds <see cref="BigAdapter"/> with the given number of layers, prints "ready", then saves it over
    /// &lt;path&gt; forever, printing "saved N" after each save.
    /// </summary>
    private static int SaveLoop(string[] args)
    {
        if (args.Length < 2) throw new ArgumentException("save-loop <path> <layers> [half]");
        var path = args[0];
        int layers = int.Parse(args[1], CultureInfo.InvariantCulture);
        var options = args.Length > 2 && args[2] == "half" ? SaveOptions.Half : SaveOptions.Default;
        using var adapter = BigAdapter(layers);
        Say("ready");
        for (long n = 1; ; n++)
        {
            adapter.Save(path, options);
            Say($"saved {n}");
        }
    }

    /// <summary>Rows × cols of each stream adapter's one module; <see cref="StreamBatchWeights"/> weights per batch.</summary>
    public const int StreamDim = 1024, StreamBatchWeights = 32;
    public const string StreamModule = "model.layers.0.self_attn.q_proj";
    public static string StreamAdapter(int thread) => $"stream-{thread}";

    /// <summary>The value batch <paramref name="n"/> of a thread sets at its i-th weight (the batch then adds 0.5 to it).</summary>
    public static float StreamValue(int thread, long n, int i) => 1f + ((thread * 7919 + n * 31 + i * 17) % 1009) / 1009f;

    /// <summary>Batch n of a thread writes weights [n·K, n·K + K) of the module in row-major order, disjoint from every other batch.</summary>
    public static (int Row, int Col) StreamCoord(long n, int i)
    {
        long linear = (n * StreamBatchWeights + i) % ((long)StreamDim * StreamDim);
        return ((int)(linear / StreamDim), (int)(linear % StreamDim));
    }

    /// <summary>
    /// Opens the store, creates one adapter per thread if missing, prints "ready", then streams batches from every
    /// thread forever, printing "ack T N" once batch N of thread T is acknowledged. Each batch sets K weights and then
    /// adds 0.5 to them (so a batch replayed twice, or half of one, is visible). Checkpoints run in the background.
    /// Resumes numbering after the highest batch already in the store.
    /// </summary>
    private static int StoreStream(string[] args)
    {
        if (args.Length < 6) throw new ArgumentException("store-stream <dir> <threads> <fsync> <snapshotWalBytes> <l1Bytes> <seed>");
        int threads = int.Parse(args[1], CultureInfo.InvariantCulture);
        var options = new Hyprstream.Runtime.Store.StoreOptions
        {
            Fsync = Hyprstream.Runtime.Store.FsyncPolicy.Parse(args[2]),
            // Checkpoints every snapshotWalBytes of WAL, whatever the adapters' size (ratio 0): the crash test wants
            // many checkpoints (and kills during them), not the production cadence of twice the adapters' bytes.
            CheckpointWalBytes = long.Parse(args[3], CultureInfo.InvariantCulture), CheckpointWalRatio = 0,
            Budgets = new Hyprstream.Runtime.Store.CacheBudgets(long.Parse(args[4], CultureInfo.InvariantCulture), 256 << 10, 64 << 20),
        };
        int seed = int.Parse(args[5], CultureInfo.InvariantCulture);
        using var store = Hyprstream.Runtime.Store.AdapterStore.Open(args[0], options);
        var start = new long[threads];
        for (int t = 0; t < threads; t++)
        {
            var name = StreamAdapter(t);
            if (!store.Contains(name))
            {
                store.Create(name, "test/stream");
                store.Apply(name, new Hyprstream.Runtime.Store.AdapterBatch().DefineModule(StreamModule, StreamDim, StreamDim));
            }
            // Next batch number: one past the highest batch present (each batch's first weight is non-zero).
            start[t] = store.Read(name, a =>
            {
                var m = a.Modules[StreamModule];
                long n = 0;
                while (n * StreamBatchWeights < (long)StreamDim * StreamDim && m.IsActive(StreamCoord(n, 0).Row, StreamCoord(n, 0).Col)) n++;
                return n;
            });
        }
        Say("ready");
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            var rng = new Random(seed * 1000 + t);
            var name = StreamAdapter(t);
            for (long n = start[t]; ; n++)
            {
                // A full module stops its writer: batch numbers wrapping onto used weights would read as torn batches.
                if ((n + 1) * StreamBatchWeights > (long)StreamDim * StreamDim) { Say($"full {t}"); return; }
                var rows = new int[StreamBatchWeights];
                var cols = new int[StreamBatchWeights];
                var vals = new float[StreamBatchWeights];
                var half = new float[StreamBatchWeights];
                for (int i = 0; i < StreamBatchWeights; i++)
                {
                    (rows[i], cols[i]) = StreamCoord(n, i);
                    vals[i] = StreamValue(t, n, i);
                    half[i] = 0.5f;
                }
                store.Apply(name, new Hyprstream.Runtime.Store.AdapterBatch().Set(StreamModule, rows, cols, vals).Add(StreamModule, rows, cols, half));
                Say($"ack {t} {n}");
                if (rng.Next(8) == 0) Thread.Sleep(1);
            }
        }) { IsBackground = true }).ToList();
        foreach (var w in workers) w.Start();
        foreach (var w in workers) w.Join();
        return 0;
    }

    public const string BigName = "big";
    public const int BigDim = 2048;
    public static readonly string[] BigProjections = ["q_proj", "k_proj", "v_proj", "o_proj"];

    /// <summary>The value the big adapter stores at (row, col) of the module of <paramref name="layer"/> and projection index
    /// <paramref name="proj"/>; crash tests recompute it to check a loaded file. Never 0.</summary>
    public static float BigValue(int layer, int proj, int row, int col) =>
        1f + ((layer * 7919 + proj * 104729 + row * 2053 + col * 31) % 9973) / 9973f;

    /// <summary>Whether the big adapter stores (row, col): every 8x64 tile with (tileRow + tileCol) even, densely.</summary>
    public static bool BigActive(int row, int col) => (((row >> 3) + (col >> 6)) & 1) == 0;

    /// <summary>A Qwen-like adapter: <paramref name="layers"/> layers × 4 attention projections of 2048×2048, half of
    /// the 8×64 tiles fully dense (≈ 2 M weights per module, ≈ 8 MB per module before compression).</summary>
    public static SparseAdapter BigAdapter(int layers)
    {
        var a = new SparseAdapter(BigName, "Qwen/Qwen3-1.7B");
        a.Provenance["source"] = "test-child";
        var dense = new float[BigDim * BigDim];
        for (int layer = 0; layer < layers; layer++)
            for (int p = 0; p < BigProjections.Length; p++)
            {
                for (int r = 0; r < BigDim; r++)
                    for (int c = 0; c < BigDim; c++)
                        dense[r * BigDim + c] = BigActive(r, c) ? BigValue(layer, p, r, c) : 0f;
                a.AddModuleFromDense($"model.layers.{layer}.self_attn.{BigProjections[p]}", BigDim, BigDim, dense, scale: 2f);
            }
        return a;
    }
}

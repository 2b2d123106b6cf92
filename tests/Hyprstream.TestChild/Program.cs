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

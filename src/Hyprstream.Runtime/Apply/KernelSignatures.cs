namespace Hyprstream.Runtime.Apply;

/// <summary>The kind of one kernel parameter, as declared in native/kernels/apply.cu.</summary>
internal enum KernelParam : byte
{
    /// <summary>A device pointer (8 bytes).</summary>
    Pointer,
    /// <summary>int32_t (4 bytes).</summary>
    Int32,
    /// <summary>int64_t (8 bytes).</summary>
    Int64,
    /// <summary>float (4 bytes).</summary>
    Float32,
}

/// <summary>One launch argument: its kind and its bits (ints and floats in the low bytes, little endian).</summary>
internal readonly record struct KernelArg(KernelParam Kind, ulong Bits)
{
    public static KernelArg Ptr(ulong devicePointer) => new(KernelParam.Pointer, devicePointer);
    public static KernelArg I32(int value) => new(KernelParam.Int32, (uint)value);
    public static KernelArg I64(long value) => new(KernelParam.Int64, (ulong)value);
    public static KernelArg F32(float value) => new(KernelParam.Float32, BitConverter.SingleToUInt32Bits(value));
}

/// <summary>
/// The one table of the PTX entry points the host launches: per entry point (native/kernels/apply.cu), its parameters
/// in order. The CUDA backend loads exactly these functions and packs every launch through <see cref="Pack"/>, which
/// refuses arguments that disagree with the table; KernelPtxTests checks the table against the built PTX's
/// <c>.entry</c> declarations (parameter count and sizes), so the C# side and the kernels cannot drift apart silently.
/// </summary>
internal static class KernelSignatures
{
    private const KernelParam P = KernelParam.Pointer, I = KernelParam.Int32, L = KernelParam.Int64, F = KernelParam.Float32;

    // hs_sgemm_*(grids, leafLists, leafCounts, slotBases, scales, segOffsets, rows, cols, x, y)
    private static readonly KernelParam[] Sgemm = [P, P, P, P, P, P, I, I, P, P];
    // hs_scatter_*(grid, leaves, count, slotBase, rows, cols, scale, w)
    private static readonly KernelParam[] Scatter = [P, P, I, L, I, I, F, P];
    // hs_scatter_many_*(grid, leafLists, counts, slotBases, rows, cols, scales, weights)
    private static readonly KernelParam[] ScatterMany = [P, P, P, P, P, P, P, P];
    // hs_lookup_*(grid, slotBase, cols, rows, colsAt, values, n)
    private static readonly KernelParam[] Lookup = [P, L, I, P, P, P, I];
    // hs_dense_gemm_f32(w, rows, cols, x, batch, y)
    private static readonly KernelParam[] DenseGemm = [P, I, I, P, I, P];

    /// <summary>Entry point name → its parameters in declaration order.</summary>
    public static readonly IReadOnlyDictionary<string, KernelParam[]> Entries = Build();

    private static Dictionary<string, KernelParam[]> Build()
    {
        var d = new Dictionary<string, KernelParam[]>(StringComparer.Ordinal)
        {
            ["hs_sgemm_f32"] = Sgemm, ["hs_sgemm_q16"] = Sgemm,
            ["hs_lookup_f32"] = Lookup, ["hs_lookup_q16"] = Lookup,
            ["hs_dense_gemm_f32"] = DenseGemm,
        };
        foreach (var weights in new[] { "f32", "f16", "bf16" })
            foreach (var build in new[] { "f32", "q16" })
            {
                d[$"hs_scatter_{weights}_{build}"] = Scatter;
                d[$"hs_scatter_many_{weights}_{build}"] = ScatterMany;
            }
        return d;
    }

    /// <summary>Bytes of one parameter in the kernel's parameter buffer.</summary>
    public static int Size(KernelParam p) => p is KernelParam.Int32 or KernelParam.Float32 ? 4 : 8;

    /// <summary>
    /// Checks <paramref name="args"/> against the entry point's parameters (count and kind, in order) and writes each
    /// into its own 8-byte slot of <paramref name="slots"/> holding exactly the parameter's size (4-byte parameters in
    /// the low half, the high half zero), which is what cuLaunchKernel reads through the i-th kernelParams pointer.
    /// </summary>
    public static void Pack(string entry, ReadOnlySpan<KernelArg> args, Span<ulong> slots)
    {
        if (!Entries.TryGetValue(entry, out var parameters)) throw new ArgumentException($"'{entry}' is not a kernel entry point", nameof(entry));
        if (args.Length != parameters.Length)
            throw new ArgumentException($"{entry} takes {parameters.Length} parameters, {args.Length} given");
        if (slots.Length < args.Length) throw new ArgumentException("one slot per argument is required", nameof(slots));
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i].Kind != parameters[i])
                throw new ArgumentException($"{entry} parameter {i} is {parameters[i]}, the argument is {args[i].Kind}");
            slots[i] = Size(parameters[i]) == 4 ? args[i].Bits & 0xFFFF_FFFFUL : args[i].Bits;
        }
    }
}

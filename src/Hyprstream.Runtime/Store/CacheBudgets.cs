namespace Hyprstream.Runtime.Store;

/// <summary>Byte budgets per tier. An object larger than a tier's budget skips that tier.</summary>
public sealed record CacheBudgets(long L1Bytes, long L2Bytes, long L3Bytes)
{
    public static readonly CacheBudgets Default = new(2L << 30, 1L << 30, 8L << 30);
}

namespace Hyprstream.Runtime;

/// <summary>How an adapter is written to a .vdb file.</summary>
public sealed record SaveOptions
{
    /// <summary>Half precision halves the file (IEEE binary16, lossy; |w| above 65504 is refused).</summary>
    public WeightPrecision Precision { get; init; } = WeightPrecision.Float32;
    public FileCompression Compression { get; init; } = FileCompression.Blosc;

    public static SaveOptions Default { get; } = new();
    public static SaveOptions Half { get; } = new() { Precision = WeightPrecision.Half };

    internal int NativeFlags => (Precision == WeightPrecision.Half ? Interop.OpenVdb.Hs.SaveHalf : 0) | Compression switch
    {
        FileCompression.Zip => Interop.OpenVdb.Hs.SaveZip,
        FileCompression.None => Interop.OpenVdb.Hs.SaveNoCompression,
        _ => 0,
    };
}

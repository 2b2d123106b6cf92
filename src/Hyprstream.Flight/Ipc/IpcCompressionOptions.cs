using Apache.Arrow.Compression;
using Apache.Arrow.Ipc;

namespace Hyprstream.Flight.Ipc;

/// <summary>Apache.Arrow IPC options and codecs for an <see cref="IpcCompression"/>.</summary>
public static class IpcCompressionOptions
{
    /// <summary>The codecs Apache.Arrow.Compression provides (zstd, lz4 frame), for readers and writers.</summary>
    public static readonly ICompressionCodecFactory Codecs = new CompressionCodecFactory();

    public static IpcOptions For(IpcCompression c) => c switch
    {
        IpcCompression.None => new IpcOptions(),
        IpcCompression.Zstd => new IpcOptions { CompressionCodec = CompressionCodecType.Zstd, CompressionCodecFactory = Codecs },
        IpcCompression.Lz4 => new IpcOptions { CompressionCodec = CompressionCodecType.Lz4Frame, CompressionCodecFactory = Codecs },
        _ => throw new ArgumentOutOfRangeException(nameof(c)),
    };

    /// <summary>"zstd", "lz4" (or "lz4_frame"), "none"/null; anything else is an ArgumentException naming the choices.</summary>
    public static IpcCompression Parse(string? name) => name?.Trim().ToLowerInvariant() switch
    {
        null or "" or "none" => IpcCompression.None,
        "zstd" => IpcCompression.Zstd,
        "lz4" or "lz4_frame" => IpcCompression.Lz4,
        _ => throw new ArgumentException($"unknown compression {StatusText.Quote(name)} (use \"zstd\", \"lz4\" or \"none\")"),
    };
}

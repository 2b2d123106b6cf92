using System.Runtime.InteropServices;
using Hyprstream.Interop.OpenVdb;

namespace Hyprstream.Interop;

/// <summary>Native status codes (hyprstream_shim.h) and their mapping onto .NET exceptions.</summary>
internal static class Status
{
    public const int Ok = 0;
    public const int InvalidArgument = 1;
    public const int OutOfRange = 2;
    public const int Io = 3;
    public const int InvalidData = 4;
    public const int NotFound = 5;
    public const int OutOfMemory = 6;
    public const int BufferTooSmall = 7;
    public const int Internal = 8;

    /// <summary>Throws the exception that matches <paramref name="rc"/>, carrying the thread's native message.</summary>
    public static void Check(int rc)
    {
        if (rc != Ok) throw ToException(rc, LastError());
    }

    public static string LastError()
    {
        unsafe
        {
            return Marshal.PtrToStringUTF8((nint)Hs.hs_last_error()) ?? "";
        }
    }

    public static Exception ToException(int rc, string message) => rc switch
    {
        InvalidArgument => new ArgumentException(message),
        OutOfRange => new ArgumentOutOfRangeException(null, message),
        Io => new IOException(message),
        InvalidData => new InvalidDataException(message),
        NotFound when message.EndsWith("does not exist", StringComparison.Ordinal) => new FileNotFoundException(message),
        NotFound => new KeyNotFoundException(message),
        OutOfMemory => new OutOfMemoryException(message),
        _ => new HyprstreamException($"native error {rc}: {message}") { NativeStatus = rc },
    };
}

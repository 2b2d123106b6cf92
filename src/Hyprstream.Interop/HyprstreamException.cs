namespace Hyprstream.Interop;

/// <summary>A failure reported by the native library that has no more specific .NET exception type.</summary>
public class HyprstreamException : Exception
{
    public HyprstreamException(string message) : base(message) { }
    public HyprstreamException(string message, Exception inner) : base(message, inner) { }

    /// <summary>The native status code, when the error came from the native library.</summary>
    public int NativeStatus { get; init; }
}

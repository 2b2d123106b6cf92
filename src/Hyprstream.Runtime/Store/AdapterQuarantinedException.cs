namespace Hyprstream.Runtime.Store;

/// <summary>Thrown for an adapter that exists but is quarantined: the message says why and how to repair it.</summary>
public sealed class AdapterQuarantinedException(string name, string reason)
    : InvalidOperationException($"adapter '{name}' is quarantined ({reason}); stop the server and run `hyprstream store repair` on its data directory")
{
    public string Adapter { get; } = name;
}

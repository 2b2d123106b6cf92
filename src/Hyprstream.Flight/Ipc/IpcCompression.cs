namespace Hyprstream.Flight.Ipc;

/// <summary>IPC body compression (Arrow's per-buffer codec), as a ticket or client asks for it.</summary>
public enum IpcCompression { None, Zstd, Lz4 }

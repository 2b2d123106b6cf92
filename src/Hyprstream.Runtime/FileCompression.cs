namespace Hyprstream.Runtime;

public enum FileCompression { Blosc, Zip, None }

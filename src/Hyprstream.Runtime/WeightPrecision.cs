namespace Hyprstream.Runtime;

public enum WeightPrecision { Float32, Half }

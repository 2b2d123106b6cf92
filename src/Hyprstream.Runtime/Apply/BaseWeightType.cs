namespace Hyprstream.Runtime.Apply;

/// <summary>The element type of dense base weights in device memory, for the device-resident scatter calls.</summary>
public enum BaseWeightType { Float32, Fp16, Bf16 }

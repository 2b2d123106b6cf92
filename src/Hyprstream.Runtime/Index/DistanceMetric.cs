namespace Hyprstream.Runtime.Index;

/// <summary>How adapter embeddings are compared.</summary>
public enum DistanceMetric
{
    /// <summary>Squared Euclidean distance.</summary>
    L2,
    /// <summary>1 − cos(u, v); vectors are normalised when stored.</summary>
    Cosine,
    /// <summary>Hyperbolic distance in the Poincaré ball (|u| &lt; 1), for hierarchies of adapters.</summary>
    Poincare,
}

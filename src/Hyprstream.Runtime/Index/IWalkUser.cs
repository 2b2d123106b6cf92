namespace Hyprstream.Runtime.Index;

/// <summary>
/// A graph operation (search, insert, repair) written once and run with the metric's <see cref="IWalkDistance"/>
/// struct: <see cref="VectorStore.WithQuery{TU}"/> picks the struct, the JIT compiles one loop per metric.
/// </summary>
internal interface IWalkUser
{
    void Use<TD>(ref TD distance) where TD : struct, IWalkDistance;
}

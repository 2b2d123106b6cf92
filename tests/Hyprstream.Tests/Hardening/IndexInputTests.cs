using Grpc.Core;
using Hyprstream.Flight;
using Hyprstream.Tests.Service;
using static Hyprstream.Tests.Hardening.Hostile;

namespace Hyprstream.Tests.Hardening;

/// <summary>index-upsert takes embeddings of stored adapters only; vectors are finite as float32 and of bounded norm.</summary>
[TestFixture]
public sealed class IndexInputTests
{
    [Test]
    public async Task Upsert_OfAnUnknownAdapter_IsNotFound_AndCreatesNoIndex()
    {
        await using var s = await ServerWithAdapters("a");
        var e = await Fails(s.Client, "index-upsert", """{"adapter":"ghost","vector":[1,0]}""");
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.NotFound));
        Assert.That(e.Status.Detail, Does.Contain("ghost"));
        Assert.That(s.Host.Index.Index, Is.Null, "the refused upsert created no index");
        var ok = await Ok(s.Client, "index-upsert", """{"adapter":"a","vector":[1,0]}""");
        Assert.That(ok.GetProperty("count").GetInt32(), Is.EqualTo(1));
    }

    [TestCase("[1e308,1e308]")]
    [TestCase("[3.5e38,0]")]
    [TestCase("[1e20,0]")]
    [TestCase("[7e8,8e8]")]
    [TestCase("[]")]
    public async Task Vectors_NotFiniteAsFloat32_OrOfHugeNorm_AreInvalidArgument(string vector)
    {
        await using var s = await ServerWithAdapters("a", "b");
        var e = await Fails(s.Client, "index-upsert", $$"""{"adapter":"a","vector":{{vector}}}""");
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), e.Status.Detail);
        Assert.That(e.Status.Detail, Does.Contain("vector"));
        await Ok(s.Client, "index-upsert", """{"adapter":"b","vector":[1,0]}""");
        e = await Fails(s.Client, "search", $$"""{"vector":{{vector}}}""");
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), e.Status.Detail);
        var hits = await Ok(s.Client, "search", """{"vector":[1e8,1],"k":1}""");
        Assert.That(hits.GetProperty("results")[0].GetProperty("adapter").GetString(), Is.EqualTo("b"));
    }
}

using System.Buffers.Binary;
using System.Net;
using System.Text;
using Hyprstream.Flight.Grpc;

namespace Hyprstream.Tests.Flight;

/// <summary>The gRPC layer on its own: a test service on Kestrel, called through our HttpClient channel.</summary>
[TestFixture]
public sealed class GrpcLayerTests
{
    private GrpcServer _server = null!;
    private GrpcChannel _channel = null!;
    private readonly TaskCompletionSource<string> _infiniteEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    [OneTimeSetUp]
    public async Task Start()
    {
        var router = new GrpcRouter(maxMessageSize: 4096);
        router.Map("test.Svc", "Echo", async call => await WriteRaw(call, (await call.ReadMessageAsync())!));
        router.Map("test.Svc", "Count", async call =>
        {
            int n = BinaryPrimitives.ReadInt32LittleEndian((await call.ReadMessageAsync())!);
            for (int i = 0; i < n; i++) await WriteRaw(call, BitConverter.GetBytes(i));
        });
        router.Map("test.Svc", "Sum", async call =>
        {
            long total = 0, count = 0;
            while (await call.ReadMessageAsync() is { } m) { total += m.Length; count++; }
            await WriteRaw(call, Encoding.UTF8.GetBytes($"{count}:{total}"));
        });
        router.Map("test.Svc", "Chat", async call =>
        {
            while (await call.ReadMessageAsync() is { } m) await WriteRaw(call, m);
        });
        router.Map("test.Svc", "Slow", async call => await Task.Delay(Timeout.Infinite, call.CancellationToken));
        router.Map("test.Svc", "Fail", _ => throw new GrpcException(GrpcStatusCode.NotFound, "nothing here: 100% ünïcode\nline"));
        router.Map("test.Svc", "FailLate", async call =>
        {
            await WriteRaw(call, [1]);
            throw new GrpcException(GrpcStatusCode.Aborted, "after one message");
        });
        router.Map("test.Svc", "Infinite", async call =>
        {
            try
            {
                for (int i = 0; ; i++) await WriteRaw(call, new byte[1000]);
            }
            catch (OperationCanceledException) { _infiniteEnded.TrySetResult("cancelled"); throw; }
            catch (Exception e) { _infiniteEnded.TrySetResult(e.GetType().Name); throw; }
        });
        _server = await GrpcServer.StartAsync(router, new IPEndPoint(IPAddress.Loopback, 0));
        _channel = new GrpcChannel(_server.Address);
    }

    private static async Task WriteRaw(GrpcServerCall call, byte[] payload)
    {
        var w = await call.StartAsync();
        var span = w.GetSpan(5 + payload.Length);
        GrpcFraming.WritePrefix(span, payload.Length);
        payload.CopyTo(span[5..]);
        w.Advance(5 + payload.Length);
        await call.FlushAsync();
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _channel.Dispose();
        await _server.DisposeAsync();
    }

    [Test]
    public async Task Unary_EchoesTheMessage_IncludingEmpty()
    {
        Assert.That(await _channel.UnaryAsync("/test.Svc/Echo", [1, 2, 3]), Is.EqualTo(new byte[] { 1, 2, 3 }));
        Assert.That(await _channel.UnaryAsync("/test.Svc/Echo", []), Is.Empty);
    }

    [Test]
    public async Task ServerStreaming_DeliversEveryMessageInOrder()
    {
        var got = new List<int>();
        await foreach (var m in _channel.ServerStreamingAsync("/test.Svc/Count", BitConverter.GetBytes(500))) got.Add(BitConverter.ToInt32(m));
        Assert.That(got, Is.EqualTo(Enumerable.Range(0, 500)));
    }

    [Test]
    public async Task ClientStreaming_ServerSeesEveryMessageUntilEndOfStream()
    {
        await using var call = _channel.Start("/test.Svc/Sum");
        for (int i = 0; i < 100; i++) await call.WriteAsync(new byte[i]);
        await call.CompleteRequestAsync();
        Assert.That(Encoding.UTF8.GetString((await call.ReadAsync())!), Is.EqualTo($"100:{99 * 100 / 2}"));
        Assert.That(await call.ReadAsync(), Is.Null);
        Assert.That(call.Status, Is.EqualTo(GrpcStatusCode.OK));
    }

    [Test]
    public async Task Bidi_ResponsesArriveBeforeTheClientFinishes()
    {
        await using var call = _channel.Start("/test.Svc/Chat");
        for (byte i = 0; i < 5; i++)
        {
            await call.WriteAsync(new[] { i });
            Assert.That(await call.ReadAsync(), Is.EqualTo(new[] { i }));
        }
        await call.CompleteRequestAsync();
        Assert.That(await call.ReadAsync(), Is.Null);
    }

    [Test]
    public void ErrorStatus_TrailersOnly_CarriesCodeAndDecodedMessage()
    {
        var e = Assert.ThrowsAsync<GrpcException>(() => _channel.UnaryAsync("/test.Svc/Fail", []));
        Assert.That(e!.Status, Is.EqualTo(GrpcStatusCode.NotFound));
        // Percent-encoded on the wire ('%' and non-ASCII survive); control characters become spaces (StatusText.Bound).
        Assert.That(e.Detail, Is.EqualTo("nothing here: 100% ünïcode line"));
    }

    [Test]
    public async Task ErrorStatus_AfterMessages_ComesInTrailers()
    {
        await using var call = _channel.Start("/test.Svc/FailLate");
        await call.WriteAsync(Array.Empty<byte>());
        await call.CompleteRequestAsync();
        Assert.That(await call.ReadAsync(), Is.EqualTo(new byte[] { 1 }));
        var e = Assert.ThrowsAsync<GrpcException>(async () => await call.ReadAsync());
        Assert.That(e!.Status, Is.EqualTo(GrpcStatusCode.Aborted));
    }

    [Test]
    public void UnknownMethod_IsUnimplemented()
    {
        var e = Assert.ThrowsAsync<GrpcException>(() => _channel.UnaryAsync("/test.Svc/Nope", []));
        Assert.That(e!.Status, Is.EqualTo(GrpcStatusCode.Unimplemented));
    }

    [Test]
    public void Deadline_PassesOnTheServer_IsDeadlineExceeded()
    {
        var e = Assert.ThrowsAsync<GrpcException>(() => _channel.UnaryAsync("/test.Svc/Slow", [], new GrpcCallOptions { Timeout = TimeSpan.FromMilliseconds(200) }));
        Assert.That(e!.Status, Is.EqualTo(GrpcStatusCode.DeadlineExceeded), e.Detail);
    }

    [Test]
    public void OversizedMessage_IsResourceExhausted_AndServerKeepsServing()
    {
        var e = Assert.ThrowsAsync<GrpcException>(() => _channel.UnaryAsync("/test.Svc/Echo", new byte[5000]));
        Assert.That(e!.Status, Is.EqualTo(GrpcStatusCode.ResourceExhausted));
        Assert.That(async () => await _channel.UnaryAsync("/test.Svc/Echo", [7]), Is.EqualTo(new byte[] { 7 }));
    }

    [Test]
    public async Task TruncatedRequest_IsAnError_NotAHang()
    {
        await using var call = _channel.Start("/test.Svc/Sum");
        var bogus = new byte[5 + 10];
        GrpcFraming.WritePrefix(bogus, 100); // says 100 bytes, sends 10
        await call.WriteFramedAsync(bogus);
        await call.CompleteRequestAsync();
        var e = Assert.ThrowsAsync<GrpcException>(async () => await call.ReadAsync());
        Assert.That(e!.Status, Is.EqualTo(GrpcStatusCode.Internal));
    }

    [Test]
    public async Task ClientDisconnect_MidStream_CancelsTheHandler()
    {
        var call = _channel.Start("/test.Svc/Infinite");
        await call.WriteAsync(Array.Empty<byte>());
        await call.CompleteRequestAsync();
        for (int i = 0; i < 3; i++) Assert.That(await call.ReadAsync(), Has.Length.EqualTo(1000));
        await call.DisposeAsync();
        var ended = await Task.WhenAny(_infiniteEnded.Task, Task.Delay(30_000)); // hang guard only
        Assert.That(ended, Is.SameAs(_infiniteEnded.Task), "the handler kept running after the client left");
        Assert.That(await _channel.UnaryAsync("/test.Svc/Echo", [9]), Is.EqualTo(new byte[] { 9 }));
    }

    [Test]
    public async Task NonGrpcContentType_IsHttp415()
    {
        using var http = new HttpClient();
        var req = new HttpRequestMessage(HttpMethod.Post, new Uri(_server.Address, "/test.Svc/Echo"))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new StringContent("hello"),
        };
        using var resp = await http.SendAsync(req);
        Assert.That((int)resp.StatusCode, Is.EqualTo(415));
    }

    [TestCase("5S", 5_000)]
    [TestCase("100m", 100)]
    [TestCase("2H", 7_200_000)]
    [TestCase("1M", 60_000)]
    [TestCase("3000u", 3)]
    [TestCase("4000000n", 4)]
    public void GrpcTimeout_ParsesUnits(string header, double ms)
    {
        Assert.That(GrpcTimeout.TryParse(header, out var t), Is.True);
        Assert.That(t.TotalMilliseconds, Is.EqualTo(ms).Within(0.001));
    }

    [TestCase("")]
    [TestCase("S")]
    [TestCase("123456789S")]
    [TestCase("-5S")]
    [TestCase("5x")]
    public void GrpcTimeout_RefusesMalformed(string header) => Assert.That(GrpcTimeout.TryParse(header, out _), Is.False);
}

/// <summary>With a certificate the same router is served over TLS (HTTP/2 negotiated by ALPN).</summary>
[TestFixture]
public sealed class GrpcTlsTests
{
    [Test]
    public async Task WithCertificate_CallsGoOverTls()
    {
        using var key = System.Security.Cryptography.RSA.Create(2048);
        var req = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=localhost", key,
            System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
        using var cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        using var pfx = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12(cert.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pfx), null);
        var router = new GrpcRouter();
        router.Map("test.Svc", "Echo", async call =>
        {
            var m = (await call.ReadMessageAsync())!;
            var w = await call.StartAsync();
            var span = w.GetSpan(5 + m.Length);
            GrpcFraming.WritePrefix(span, m.Length);
            m.CopyTo(span[5..]);
            w.Advance(5 + m.Length);
            await call.FlushAsync();
        });
        await using var server = await GrpcServer.StartAsync(router, new IPEndPoint(IPAddress.Loopback, 0), pfx);
        Assert.That(server.Address.Scheme, Is.EqualTo("https"));
        string? seenThumbprint = null;
        using var channel = new GrpcChannel(server.Address, handler: new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, c, _, _) => { seenThumbprint = c?.GetCertHashString(); return true; } },
        });
        Assert.That(await channel.UnaryAsync("/test.Svc/Echo", [4, 2]), Is.EqualTo(new byte[] { 4, 2 }));
        Assert.That(seenThumbprint, Is.EqualTo(pfx.GetCertHashString()));
    }
}

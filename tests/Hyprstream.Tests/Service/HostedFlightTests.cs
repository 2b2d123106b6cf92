using System.Net;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Hyprstream.Flight.Rpc;
using Hyprstream.Service;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static Hyprstream.Tests.Service.FlightServiceTests;

namespace Hyprstream.Tests.Service;

/// <summary>
/// The Flight service inside someone else's ASP.NET Core app (AddHyprstreamFlight / MapHyprstreamFlight, what the
/// Hyprstream.Service package offers): it serves beside the app's own endpoints, the app's container owns and
/// disposes the store, and misuse says what is wrong.
/// </summary>
[TestFixture]
public sealed class HostedFlightTests
{
    /// <summary>An app of its own: Kestrel on a loopback port (HTTP/2, as gRPC needs), one endpoint of its own, our pair.</summary>
    private static WebApplication App(FlightServiceOptions options)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.ConfigureHyprstreamFlightLimits();
            k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2);
        });
        builder.Services.AddHyprstreamFlight(options);
        var app = builder.Build();
        app.MapGet("/the-apps-own", () => "still mine");
        app.MapHyprstreamFlight();
        return app;
    }

    private static Uri Address(WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    [Test]
    public async Task HostApp_ServesAdapters_BesideItsOwnEndpoints_AndItsContainerClosesTheStore()
    {
        using var dir = new TempDir();
        Dictionary<(string, int, int), float> expected;
        using (var a = Fixtures.Small("small", count: 200))
        {
            a.Save(dir.File("small.vdb"));
            expected = Fixtures.Snapshot(a);
        }
        var options = new FlightServiceOptions { DataDirectory = dir.Path };
        await using (var app = App(options))
        {
            await app.StartAsync();
            var address = Address(app);
            using (var client = new FlightClient(address))
            {
                var info = await client.GetFlightInfoAsync(Path("adapters", "small"));
                Assert.That(await ReadAll(client, info.Endpoint[0].Ticket), Is.EquivalentTo(expected));
            }
            using (var channel = GrpcChannel.ForAddress(address))
            {
                var health = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest { Service = FlightMethods.Service });
                Assert.That(health.Status, Is.EqualTo(HealthCheckResponse.Types.ServingStatus.Serving));
            }
            using (var http = new HttpClient { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact })
                Assert.That(await http.GetStringAsync(new Uri(address, "/the-apps-own")), Is.EqualTo("still mine"));
            // The app's code can reach the same store the service serves.
            Assert.That(app.Services.GetRequiredService<ServiceStore>().Store.Names, Does.Contain("small"));
            await app.StopAsync();
        }
        // Disposed with the app: the data directory's lock is free again.
        await using var again = App(options);
        await again.StartAsync();
        Assert.That(again.Services.GetRequiredService<ServiceStore>().Store.Names, Does.Contain("small"));
        await again.StopAsync();
    }

    [Test]
    public async Task DataDirectoryInUse_FailsTheHostsStart_NotItsFirstCall()
    {
        using var dir = new TempDir();
        var options = new FlightServiceOptions { DataDirectory = dir.Path };
        await using var first = App(options);
        await first.StartAsync();
        await using var second = App(options);
        var e = Assert.CatchAsync(() => second.StartAsync());
        Assert.That(e!.Message, Does.Contain(dir.Path).Or.Contain("lock").IgnoreCase, "the failure names what is in the way");
        // The first keeps serving.
        using var client = new FlightClient(Address(first));
        Assert.That(await client.ListFlightsAsync(), Is.Empty);
        await first.StopAsync();
    }

    [Test]
    public async Task MapWithoutAdd_AndABlankToken_AreRefusedWithTheReason()
    {
        using var dir = new TempDir();
        await using var app = WebApplication.CreateSlimBuilder().Build();
        var e = Assert.Throws<InvalidOperationException>(() => app.MapHyprstreamFlight());
        Assert.That(e!.Message, Does.Contain("AddHyprstreamFlight"));
        var services = new ServiceCollection();
        var blank = Assert.Throws<ArgumentException>(() => services.AddHyprstreamFlight(new FlightServiceOptions { DataDirectory = dir.Path, Tokens = ["  "] }));
        Assert.That(blank!.Message, Does.Contain("token"));
        Assert.That(Directory.EnumerateFileSystemEntries(dir.Path), Is.Empty, "nothing was opened or written");
    }
}

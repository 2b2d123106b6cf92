using System.CommandLine;
using System.Net;
using Hyprstream.Runtime.Store;
using Hyprstream.Service;
using Microsoft.Extensions.Logging;

namespace Hyprstream.Server.Commands;

/// <summary>`hyprstream serve`: the Arrow Flight service over a data directory of adapters.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var data = new Option<string?>("--data") { Description = "data directory (default: $HYPRSTREAM_DATA, else $XDG_DATA_HOME/hyprstream, else ~/.local/share/hyprstream)" };
        var listen = new Option<string>("--listen") { Description = "address:port to listen on (non-loopback needs a token)", DefaultValueFactory = _ => "127.0.0.1:50051" };
        var token = new Option<string[]>("--token") { Description = "bearer token clients must present (repeatable; also HYPRSTREAM_TOKENS, comma-separated)", AllowMultipleArgumentsPerToken = false };
        var tokensFile = new Option<string?>("--tokens-file") { Description = "JSON file of tokens with a role (read, write, admin) and a tenant: {\"tokens\": [{\"token\", \"tenant\", \"role\"}]}; combines with --token (admin tokens)" };
        var cert = new Option<string?>("--cert") { Description = "PKCS#12 certificate: serve TLS instead of plain HTTP/2" };
        var certPassword = new Option<string?>("--cert-password") { Description = "password of the --cert file (or HYPRSTREAM_CERT_PASSWORD)" };
        var fsync = new Option<string>("--fsync") { Description = "when an acknowledged update reaches the disk: always, batch(MS) (default batch(2): one fsync every 2 ms, acknowledgements wait for it) or never (survives a process crash, not a power loss)", DefaultValueFactory = _ => "batch" };
        var cache = new Option<string>("--cache-mb") { Description = "cache budgets in MiB for L1 (decoded), L2 (compressed in RAM), L3 (compressed on disk)", DefaultValueFactory = _ => "2048,1024,8192" };
        var metrics = new Option<string?>("--metrics") { Description = "address:port of a plain HTTP/1.1 listener for GET /metrics (Prometheus text), /healthz and /readyz, e.g. 127.0.0.1:9464 (default: no metrics)" };
        var logFormat = new Option<string>("--log-format") { Description = "log events on stderr as text (one line each) or json (one object per line)", DefaultValueFactory = _ => "text" };
        var logLevel = new Option<string>("--log-level") { Description = "least level logged: trace, debug, information, warning, error", DefaultValueFactory = _ => "information" };
        var snapshotFp16 = new Option<bool>("--snapshot-fp16") { Description = "every checkpoint also writes the adapter's NanoVDB Fp16 snapshot file (checkpoints/STEM.SEQ.fp16.nvdb, ~3.8 B/weight) beside its .vdb and float32 .nvdb: Fp16 apply/GPU tiers map it instead of converting (default: off; when off, such files are removed at open)" };
        var allowSource = new Option<string[]>("--allow-source") { Description = "object-store prefix (s3://bucket/prefix) the load action may read .vdb files from (repeatable; default: none)", AllowMultipleArgumentsPerToken = false };
        var cmd = new Command("serve", "Serve the adapters in a data directory over Arrow Flight (gRPC, HTTP/2)") { data, listen, token, tokensFile, cert, certPassword, fsync, cache, metrics, logFormat, logLevel, snapshotFp16, allowSource };
        var replication = new ServeReplication();
        replication.AddTo(cmd);
        var follow = new ServeFollow();
        follow.AddTo(cmd);
        cmd.SetAction(async (r, ct) =>
        {
            // A follower without --data keeps its replica in a private temp folder, removed when it stops.
            var privateDir = r.GetValue(data) == null ? follow.DefaultData(r) : null;
            try { return await Serve(r, ct, r.GetValue(data) ?? privateDir ?? ServiceStore.DefaultDirectory()); }
            finally
            {
                if (privateDir != null)
                    try { Directory.Delete(privateDir, recursive: true); } catch (DirectoryNotFoundException) { } catch (IOException) { }
            }
        });

        async Task<int> Serve(ParseResult r, CancellationToken ct, string dir)
        {
            var metricsAt = r.GetValue(metrics) is { } m ? ParseEndpoint(m, "--metrics") : null;
            using var loggers = ServiceLogging.Create(r.GetValue(logFormat)!, ServiceLogging.ParseLevel(r.GetValue(logLevel)!));
            var log = loggers.CreateLogger("Hyprstream.Server");
            var tokens = TokenAuth.TokensFromEnvironment(r.GetValue(token));
            var grants = r.GetValue(tokensFile) is { } file ? TokensFile.Load(file) : [];
            var options = new FlightServiceOptions
            {
                DataDirectory = dir,
                Listen = ParseEndpoint(r.GetValue(listen)!, "--listen"),
                Metrics = metricsAt,
                Loggers = loggers,
                Tokens = tokens,
                Grants = grants,
                CertificatePath = r.GetValue(cert),
                CertificatePassword = r.GetValue(certPassword) ?? Environment.GetEnvironmentVariable("HYPRSTREAM_CERT_PASSWORD"),
                Store = new StoreOptions { Fsync = FsyncPolicy.Parse(r.GetValue(fsync)!), Budgets = ParseBudgets(r.GetValue(cache)!), SnapshotFp16 = r.GetValue(snapshotFp16) },
                AllowedSources = (r.GetValue(allowSource) ?? []).Select(Hyprstream.Replication.S3Uri.Parse).ToList(),
                ObjectStoreSettings = Hyprstream.Replication.ObjectStoreSettings.FromEnvironment(r.GetValue(replication.Endpoint)),
                Leader = replication.Leader(r),
                Follow = follow.Follower(r, replication),
            };
            if (r.GetValue(tokensFile) is { } tf && !OperatingSystem.IsWindows() && (File.GetUnixFileMode(tf) & UnixFileMode.OtherRead) != 0)
                log.LogWarning("the tokens file {File} is readable by every user on this machine (chmod 600 it)", tf);
            await using var host = await FlightServiceHost.StartAsync(options);
            var scheme = options.CertificatePath == null ? "grpc+tcp" : "grpc+tls";
            // The address as bound (0.0.0.0 stays 0.0.0.0) and the auth mode in force, never a guess.
            Console.WriteLine($"hyprstream serving {host.Store.Store.Names.Count} adapters from {host.Store.DataDirectory} at {scheme}://{host.BoundAuthority}" +
                (host.AllInterfaces ? " (bound to all interfaces)" : "") + $" — auth: {host.Auth.Describe()}");
            if (host.Metrics != null) Console.WriteLine($"metrics at {host.Metrics.Address}metrics");
            Console.Out.Flush();
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            // Ctrl+C and SIGTERM (what service managers send) both stop the server cleanly.
            Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
            using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(
                System.Runtime.InteropServices.PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; stop.Cancel(); });
            try { await Task.Delay(Timeout.Infinite, stop.Token); } catch (OperationCanceledException) { }
            log.LogInformation("stopping");
            // Whatever is still running (a long request, a checkpoint) gets a bounded time: acknowledged changes are
            // already in the WAL, so leaving without the rest of the shutdown loses nothing that was promised.
            _ = Task.Delay(ShutdownGrace).ContinueWith(_ =>
            {
                Console.Error.WriteLine($"hyprstream: shutdown did not finish within {ShutdownGrace.TotalSeconds:F0} s; exiting now (every acknowledged change is in the write-ahead log)");
                Environment.Exit(3);
            }, TaskScheduler.Default);
            return 0;
        }
        return cmd;
    }

    /// <summary>How long a stop request waits for running work before the process leaves anyway.</summary>
    private static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(8);

    internal static CacheBudgets ParseBudgets(string s)
    {
        var parts = s.Split(',');
        var mb = new long[3];
        if (parts.Length != 3 || !parts.Select((p, i) => long.TryParse(p.Trim(), out mb[i]) && mb[i] >= 0).All(ok => ok))
            throw new ArgumentException($"--cache-mb '{s}' must be three sizes in MiB, L1,L2,L3 (e.g. 2048,1024,8192)");
        return new CacheBudgets(mb[0] << 20, mb[1] << 20, mb[2] << 20);
    }

    internal static IPEndPoint ParseEndpoint(string s, string option = "--listen")
    {
        if (IPEndPoint.TryParse(s, out var ep) && s.Contains(':')) return ep;
        var colon = s.LastIndexOf(':');
        if (colon > 0 && int.TryParse(s[(colon + 1)..], out var port) && s[..colon] == "localhost") return new IPEndPoint(IPAddress.Loopback, port);
        throw new ArgumentException($"{option} '{s}' is not address:port (e.g. 127.0.0.1:{(option == "--metrics" ? 9464 : 50051)} or 0.0.0.0:{(option == "--metrics" ? 9464 : 50051)})");
    }
}

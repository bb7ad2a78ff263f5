using BenchmarkDotNet.Running;
using Ipc.Benchmarks;

// dotnet run -c Release --project tests/Ipc.Benchmarks -- --filter '*InMemory*'
// dotnet run -c Release --project tests/Ipc.Benchmarks -- interleaved
if (args is ["interleaved"])
{
    await InterleavedRatios.RunAsync(Console.Out);
    return 0;
}

// dotnet run -c Release --project tests/Ipc.Benchmarks -- interleaved-grpc [--server-process]
if (args is ["interleaved-grpc", .. var grpcOptions])
{
    await GrpcBenchmarks.RunInterleavedAsync(Console.Out, serversInOtherProcess: grpcOptions is ["--server-process"]);
    return 0;
}

// The server process of interleaved-grpc --server-process.
if (args is ["grpc-serve", var grpcIpcPort, var grpcRawPort])
{
    await GrpcBenchmarks.ServeAsync(int.Parse(grpcIpcPort, System.Globalization.CultureInfo.InvariantCulture), int.Parse(grpcRawPort, System.Globalization.CultureInfo.InvariantCulture));
    return 0;
}

// dotnet run -c Release --project tests/Ipc.Benchmarks -- concurrency
if (args is ["concurrency"])
{
    await ConcurrencyLimit.RunAsync(Console.Out);
    return 0;
}

// dotnet run -c Release --project tests/Ipc.Benchmarks -- callers [--rounds 10] [--seconds 1] [--busy] [--only unix,raw-blocking] [--set Key=Value]
if (args is ["callers", ..])
{
    return await CrossProcessCallers.RunAsync(args[1..], Console.Out);
}

// The server process of a cross-process candidate, and the load of its --busy mode.
if (args is ["callers-serve", var kind, var address, .. var settings])
{
    return await CrossProcessCallers.ServeAsync(kind, address, settings);
}

if (args is ["callers-burn"])
{
    return CrossProcessCallers.Burn();
}

// dotnet run -c Release --project tests/Ipc.Benchmarks -- crossprocess [seconds per row] [spins in us, e.g. 0,20,50,200] [inline]
if (args is ["serve", var shmAddress, var spin, .. var serveOptions])
{
    await CrossProcessBenchmarks.ServeAsync(shmAddress, TimeSpan.FromMicroseconds(int.Parse(spin, System.Globalization.CultureInfo.InvariantCulture)), serveOptions is ["inline"]);
    return 0;
}

if (args is ["serve-raw-shm", var rawPath])
{
    RawSharedMemoryPingPong.Serve(rawPath);
    return 0;
}

if (args is ["crossprocess", ..])
{
    var seconds = args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 3;
    var spins = args.Length > 2 ? args[2].Split(',').Select(s => TimeSpan.FromMicroseconds(int.Parse(s, System.Globalization.CultureInfo.InvariantCulture))).ToList() : [Ipc.SharedMemory.SharedMemoryTransportOptions.DefaultSpin];
    await CrossProcessBenchmarks.RunAsync(Console.Out, TimeSpan.FromSeconds(seconds), spins, inline: args.Length > 3 && args[3] == "inline");
    return 0;
}

// The server process of http --server-process.
if (args is ["http-serve", var ipcPort, var rawPort])
{
    await HttpBenchmarks.ServeAsync(int.Parse(ipcPort, System.Globalization.CultureInfo.InvariantCulture), int.Parse(rawPort, System.Globalization.CultureInfo.InvariantCulture));
    return 0;
}

// dotnet run -c Release --project tests/Ipc.Benchmarks -- http [--server-process]
if (args is ["http", .. var httpOptions])
{
    await HttpBenchmarks.RunInterleavedAsync(Console.Out, serversInOtherProcess: httpOptions is ["--server-process"]);
    return 0;
}

// dotnet run -c Release --project tests/Ipc.Benchmarks -- amqp
if (args is ["amqp"])
{
    await AmqpBenchmarks.RunAsync(Console.Out);
    return 0;
}

// dotnet run -c Release --project tests/Ipc.Benchmarks -- observability nobody|everything
if (args is ["observability", var mode])
{
    await ObservabilityCost.RunAsync(Console.Out, mode);
    return 0;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;

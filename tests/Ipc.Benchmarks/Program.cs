using BenchmarkDotNet.Running;
using Ipc.Benchmarks;

// dotnet run -c Release --project tests/Ipc.Benchmarks -- --filter '*InMemory*'
// dotnet run -c Release --project tests/Ipc.Benchmarks -- interleaved
if (args is ["interleaved"])
{
    await InterleavedRatios.RunAsync(Console.Out);
    return 0;
}

// dotnet run -c Release --project tests/Ipc.Benchmarks -- concurrency
if (args is ["concurrency"])
{
    await ConcurrencyLimit.RunAsync(Console.Out);
    return 0;
}

// dotnet run -c Release --project tests/Ipc.Benchmarks -- crossprocess [--rounds 10] [--seconds 1] [--busy] [--only unix,raw-blocking]
if (args is ["crossprocess", ..])
{
    return await CrossProcess.RunAsync(args[1..], Console.Out);
}

// The server process of a cross-process candidate, and the load of its --busy mode.
if (args is ["serve", var kind, var address, .. var settings])
{
    return await CrossProcess.ServeAsync(kind, address, settings);
}

if (args is ["burn"])
{
    return CrossProcess.Burn();
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;

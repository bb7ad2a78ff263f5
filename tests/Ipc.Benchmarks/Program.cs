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

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;

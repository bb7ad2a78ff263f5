using BenchmarkDotNet.Running;
using Ipc.Benchmarks;

// dotnet run -c Release --project tests/Ipc.Benchmarks -- --filter '*InMemory*'
// dotnet run -c Release --project tests/Ipc.Benchmarks -- interleaved
if (args is ["interleaved"])
{
    await InterleavedRatios.RunAsync(Console.Out);
    return;
}

// dotnet run -c Release --project tests/Ipc.Benchmarks -- concurrency
if (args is ["concurrency"])
{
    await ConcurrencyLimit.RunAsync(Console.Out);
    return;
}

// dotnet run -c Release --project tests/Ipc.Benchmarks -- observability nobody|everything
if (args is ["observability", var mode])
{
    await ObservabilityCost.RunAsync(Console.Out, mode);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

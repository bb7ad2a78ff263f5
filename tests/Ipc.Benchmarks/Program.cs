using BenchmarkDotNet.Running;
using Ipc.Benchmarks;

// dotnet run -c Release --project tests/Ipc.Benchmarks -- --filter '*InMemory*'
// dotnet run -c Release --project tests/Ipc.Benchmarks -- interleaved
if (args is ["interleaved"])
{
    await InterleavedRatios.RunAsync(Console.Out);
    return;
}

// dotnet run -c Release --project tests/Ipc.Benchmarks -- interleaved-grpc
if (args is ["interleaved-grpc"])
{
    await GrpcBenchmarks.RunInterleavedAsync(Console.Out);
    return;
}

// dotnet run -c Release --project tests/Ipc.Benchmarks -- concurrency
if (args is ["concurrency"])
{
    await ConcurrencyLimit.RunAsync(Console.Out);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

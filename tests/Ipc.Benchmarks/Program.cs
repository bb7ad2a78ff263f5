using BenchmarkDotNet.Running;

// dotnet run -c Release --project tests/Ipc.Benchmarks -- --filter '*InMemory*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

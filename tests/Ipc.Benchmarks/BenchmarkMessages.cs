namespace Ipc.Benchmarks;

public sealed record AddRequest(int A, int B);

public sealed record Order(int Id, string Customer, decimal Total, string[] Lines);

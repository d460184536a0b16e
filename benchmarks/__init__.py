"""galgate benchmarks: latency, throughput, hot swap and registry timings."""

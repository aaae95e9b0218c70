"""Latency/throughput benchmarks, reached through `pcan bench` only: one harness (timing), one module per stage."""

"""Latency/throughput benchmarks; each module is runnable with ``python -m`` and importable."""

"""Benchmarks: `make bench` measures and prints; a benchmark never asserts a time."""

"""Benchmarks: programs that measure, reported as rates and ratios, never timed tests."""

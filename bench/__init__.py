"""Benchmarks and corpus measures: figures printed beside their goals."""

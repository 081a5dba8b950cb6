"""Helpers shared by Pegasus's tests (and the benchmarks): synthetic recordings and the like."""

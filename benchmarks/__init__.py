"""The lab beside the product: the benchmark zoo (``benchmarks.zoo``), ground-truth sweeps, ablations,
speed benchmarks and their results. Not installed with the package."""

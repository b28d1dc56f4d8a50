"""The benchmark: the loader against the naive script on generated data.

`make bench` (`python -m bench`) writes BENCHMARKS.md at the repository root.
"""

"""`python -m bench`: run every benchmark and print its table."""

from bench import bench_match

bench_match.main([])

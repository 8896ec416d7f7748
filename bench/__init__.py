"""pmo-hub benchmarks: `python -m bench` (see bench/run.py and BENCHMARKS.md)."""

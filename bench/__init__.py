"""Benchmarks of mturk-decisions (``make bench`` / ``python -m bench``). See bench/README.md."""

"""The benchmark harness behind ``bench/run_all.py`` (not part of the product)."""

"""In-repo baselines the benchmarks compare the kit against (the common Kaggle approaches, re-typed)."""

"""Synthetic population for demos, tests and benchmarks."""

from seed.population import SeedSummary, database_is_empty, seed_population

__all__ = ["SeedSummary", "database_is_empty", "seed_population"]

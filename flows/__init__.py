"""Prefect 3 flows around the mlp library. Importing this package applies mlpflow's Prefect settings."""

from flows import settings as _settings  # noqa: F401  (sets Prefect's environment before prefect is imported)

"""Shared test helpers: audio fixtures, app artifacts and an in-memory feature cache."""

"""Helpers for testing lead-hf and code built on it (a local Hub API server)."""

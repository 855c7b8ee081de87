"""Helpers for testing lead-hf and code built on it: a local Hub API server (``hub_server``, ``tiny_repos``)
and the straightforward LEAD the fast path is checked against (``lead_reference``). The library never
imports this package."""

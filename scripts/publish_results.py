#!/usr/bin/env python
"""Publish lead-hf ranking results to Hub model cards and a leaderboard dataset.

Same options as `lead-hf publish` (see `python scripts/publish_results.py --help`), e.g.

    python scripts/publish_results.py results/results.json --dry-run
"""
import sys

from lead_hf.cli import main

if __name__ == "__main__":
    sys.exit(main(["publish", *sys.argv[1:]]))

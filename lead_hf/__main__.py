"""``python -m lead_hf``: the ``lead-hf`` command."""
import sys

from .cli import main

sys.exit(main())

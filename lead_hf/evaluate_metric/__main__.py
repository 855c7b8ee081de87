"""``python -m lead_hf.evaluate_metric``: install the metric (see :mod:`lead_hf.evaluate_metric.install`)."""
import sys

from .install import main

sys.exit(main())

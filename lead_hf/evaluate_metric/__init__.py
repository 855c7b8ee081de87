"""The Hugging Face ``evaluate`` metric ``metrics/lead``: the logic its installed copies call (``support``)
and the installer that puts it into evaluate's module cache (``install``; ``python -m lead_hf.evaluate_metric``).

The metric file is copied verbatim into evaluate's cache, where it imports ``lead_hf.metric_support``: that
path stays, as another name of :mod:`lead_hf.evaluate_metric.support`, so every installed copy keeps working.
"""

"""The Hugging Face ``evaluate`` metric ``lead``: its module and card (``lead/lead.py``, ``lead/README.md``,
package data; the checkout's ``metrics/lead`` links here), the logic its installed copies call
(``support``) and the installer that puts it into evaluate's module cache (``install``;
``python -m lead_hf.evaluate_metric``).

Copies installed by earlier versions import ``lead_hf.metric_support``; ``lead_hf`` still answers that name
(with :mod:`lead_hf.evaluate_metric.support`), so they keep working until the installer replaces them.
"""

# Copyright the lead-hf authors. Licensed under the Apache License, Version 2.0.
"""LEAD transferability score (Hu et al., CVPR 2024) as a Hugging Face ``evaluate`` metric.

A thin shell over the installed ``lead_hf`` package: this file declares the module (inputs, card text)
and hands batches and the final computation to ``lead_hf.evaluate_metric.support``, which validates them and
calls ``lead_hf.compute_score``. It is copied verbatim into evaluate's module cache, so it may import
only installed packages.
"""
import datasets
import evaluate

try:
    from lead_hf.evaluate_metric import support as metric_support
except ImportError as _err:  # a clear message instead of evaluate's generic "pip install lead_hf"
    raise ImportError(
        "the 'lead' metric runs on the lead-hf package, which is not importable in this environment: "
        "install it (pip install -e <path to the lead-hf checkout>)") from _err


_CITATION = """\
@inproceedings{hu2024lead,
  title     = {{LEAD}: Exploring Logit Space Evolution for Model Selection},
  author    = {Hu, Zixuan and Li, Xiaotong and Tang, Shixiang and Liu, Jun and Hu, Yichun and Duan, Ling-Yu},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages     = {28664--28673},
  year      = {2024}
}
"""

_DESCRIPTION = """\
LEAD estimates how well a pre-trained model will do once fine-tuned on a labelled dataset, without
fine-tuning it. It takes the model's frozen penultimate features on the training split and the labels,
models how fine-tuning moves the logits (a class-aware neural-tangent-kernel ODE solved in closed form)
and returns minus the cross-entropy of the evolved logits. Higher is better; compare models on the same
samples. With method="logme" (or any other lead-hf score that needs no source-model logits) the same
metric computes that baseline instead.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list` of `float`, numpy or torch array [n, feature_dim]): the frozen features
        of the candidate model, one row per sample (float32 or float64; stored as float64).
    references (`list` of `int` or `str`): the class label of each sample. Integers (or integer-valued
        floats) and strings work; use one type for the whole evaluation.
    method (`str`, default "lead"): which lead-hf score to compute; any score listed by
        `lead_hf.evaluate_metric.support.scores_without_logits()` (lead, logme, hscore, ...).
    device (`str`, optional): "cpu", "cuda", ...; default: CUDA when available.
    **options: the score's options, e.g. for LEAD `t`, `samples_per_class`, `head_widths`, `seed`, `eta`,
        `svm_C` (see `lead_hf.score_options(method)`). Unknown names are an error that lists the valid ones.
Returns:
    `dict` with `<method>` (the score, higher is better, e.g. `lead`), `method`, `num_samples`,
    `num_classes`, `feature_dim`, `seconds` (time spent in the score), `options` (resolved options) and
    `details` (score-specific diagnostics, e.g. LEAD's SVM accuracy and per-class NTK rates).
    In distributed runs only process 0 gets the dict; the others get None.
Examples:
    >>> import numpy as np, evaluate
    >>> lead = evaluate.load("lead")
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat(np.arange(3), 20)
    >>> features = rng.normal(size=(60, 16)) + 2.0 * np.eye(3, 16)[labels]
    >>> result = lead.compute(predictions=features, references=labels, head_widths=(64, 64))
    >>> sorted(result)[:3]
    ['details', 'feature_dim', 'lead']
"""


def _features(label_dtype):
    return datasets.Features({
        "predictions": datasets.Sequence(datasets.Value("float64")),
        "references": datasets.Value(label_dtype),
    })


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Lead(evaluate.Metric):
    def _info(self):
        info = evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            # evaluate picks the first option whose types fit the first sample: strings, then integers.
            features=[_features(kind) for kind in metric_support.LABEL_KINDS],
            reference_urls=["https://arxiv.org/abs/2507.14559"],
            license="apache-2.0",
        )
        # Hand Arrow columns to _compute: Python lists cost seconds on large sets and the numpy formatter
        # rounds to float32. Set after construction because MetricInfo accepts a format only for scalar
        # features (a check meant for numpy); metric_support also accepts plain lists if this is ignored.
        info.format = "arrow"
        return info

    def _label_kind(self):
        chosen = self.selected_feature_format
        return None if chosen is None else chosen["references"].dtype

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Add a batch of feature rows [n, feature_dim] and their n labels (checked before Arrow sees them).
        """
        rows, labels, _ = metric_support.check_batch(predictions, references,
                                                     expected_label_kind=self._label_kind())
        super().add_batch(predictions=rows, references=labels, **kwargs)

    def add(self, *, prediction=None, reference=None, **kwargs):
        """Add one feature row [feature_dim] and its label.
        """
        row, label, _ = metric_support.check_example(prediction, reference,
                                                     expected_label_kind=self._label_kind())
        super().add(prediction=row, reference=label, **kwargs)

    def _compute(self, predictions, references, method="lead", device=None, **options):
        return metric_support.metric_result(predictions, references, method=method, device=device, **options)

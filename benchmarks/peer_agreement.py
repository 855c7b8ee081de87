"""The agreement of lead-hf's NCTI, ETran, ITM, k-NN and probe accuracy with the public implementations
(issue 22), from the values both gave on the benchmark-v2 features, stored in
benchmarks/results/peer_agreement_v2.json; docs/baselines.md's table "the five scores of issue 22 against
the public code" is what this prints:

    python benchmarks/peer_agreement.py [benchmarks/results/peer_agreement_v2.json]

Each line: the figure per dataset (lfw_faces, fashion_mnist, mnist, digits), then the mean. The values were
computed on 2026-12-06 by running the authors' public code (fetched, not vendored: the repository carries no
third-party code) next to lead_hf.compute_score on every cached feature set of
`lead-hf benchmark --config benchmarks/configs/v2.yaml`.
"""
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

from lead_hf.results.agreement import weighted_tau

PATH = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "results" / "peer_agreement_v2.json")
d = json.loads(PATH.read_text())


def minmax_combine(terms, weights):
    """The authors' combination over a set of models: each term min-max normalised over them, weighted."""
    out = {m: 0.0 for m in terms}
    for t, w in weights.items():
        v = np.array([terms[m][t] for m in terms])
        lo, hi = v.min(), v.max()
        for m in terms:
            out[m] += w * (terms[m][t] - lo) / (hi - lo)
    return out


def models(rows):
    return [m for m in rows if not m.startswith("__")]  # "__ncti_hub__" etc. hold the over-models values


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


summary = {}


def add(key, v):
    summary.setdefault(key, []).append(v)


for ds, rows in d.items():
    ms = models(rows); acc = [rows[m]["acc"] for m in ms]

    def wt(vals, acc=acc):
        return weighted_tau(vals, acc)
    # NCTI
    full = max(rel(rows[m]["ncti_terms"][t], rows[m]["ncti_pub_full"][t]) for m in ms for t in ("seli", "ncc", "vc"))
    dflt = max(rel(rows[m]["ncti_terms"][t], rows[m]["ncti_pub_default"][t]) for m in ms for t in ("seli", "ncc", "vc"))
    add("ncti_rel_full", full); add("ncti_rel_default", dflt)
    hub_ours = rows["__ncti_hub__"]
    terms_pub = {m: rows[m]["ncti_pub_default"] for m in ms}
    hub_pub = minmax_combine(terms_pub, {"ncc": 1, "seli": 1, "vc": -1})
    add("ncti_wt_value", wt([rows[m]["ncti"] for m in ms])); add("ncti_wt_hub", wt([hub_ours[m] for m in ms]))
    add("ncti_wt_hub_pub", wt([hub_pub[m] for m in ms]))
    add("ncti_tau_value_vs_hub", kendalltau([rows[m]["ncti"] for m in ms], [hub_ours[m] for m in ms]).statistic)
    for t in ("seli", "ncc", "vc"):
        add(f"ncti_wt_{t}", wt([(-1 if t == "vc" else 1) * rows[m]["ncti_terms"][t] for m in ms]))
    # ETran
    en = [abs(rows[m]["etran_terms"]["energy"] - rows[m]["pub_energy"]) for m in ms if rows[m]["pub_energy"] == rows[m]["pub_energy"]]
    add("etran_energy_absdiff", max(en) if en else float("nan"))
    add("etran_lda_euclid_absdiff", max(abs(rows[m]["etran_lda_euclid"] - rows[m]["pub_lda"]) for m in ms))
    add("etran_lda_fisher_vs_code_mean_absdiff", np.mean([abs(rows[m]["etran_terms"]["lda"] - rows[m]["pub_lda"]) for m in ms]))
    add("etran_svd_vs_port_mean_absdiff", np.mean([abs(rows[m]["etran_terms"]["svd"] - rows[m]["pub_sreg"]) for m in ms]))
    add("etran_wt_value", wt([rows[m]["etran"] for m in ms]))
    for t in ("energy", "lda", "svd"):
        add(f"etran_wt_{t}", wt([rows[m]["etran_terms"][t] for m in ms]))
    add("etran_wt_lda_euclid", wt([rows[m]["etran_lda_euclid"] for m in ms]))
    add("etran_wt_lda_plus_svd", wt([rows[m]["etran_terms"]["lda"] + rows[m]["etran_terms"]["svd"] for m in ms]))
    add("etran_wt_hub", wt([rows["__etran_hub__"][m] for m in ms]))
    hub_code = minmax_combine({m: {"energy": rows[m]["etran_terms"]["energy"], "lda": rows[m]["etran_lda_euclid"]} for m in ms}, {"energy": .15, "lda": .85})
    add("etran_wt_hub_code_lda", wt([hub_code[m] for m in ms]))
    if all("etran_logits" in rows[m] for m in ms):
        add("etran_wt_logits", wt([rows[m]["etran_logits"] for m in ms]))
    # ITM
    diffs = [rows[m]["itm"] - rows[m]["itm_port"] for m in ms]
    add("itm_mean_absdiff", np.mean(np.abs(diffs))); add("itm_max_absdiff", max(np.abs(diffs)))
    add("itm_wt", wt([rows[m]["itm"] for m in ms])); add("itm_port_wt", wt([rows[m]["itm_port"] for m in ms]))
    add("itm_tau_ours_port", kendalltau([rows[m]["itm"] for m in ms], [rows[m]["itm_port"] for m in ms]).statistic)
    add("itm_s", np.mean([rows[m]["itm_s"] for m in ms])); add("itm_port_s", np.mean([rows[m]["itm_port_s"] for m in ms]))
    # kNN
    add("knn_mean_absdiff_teguide", np.mean([abs(rows[m]["knn"] - rows[m]["knn_teguide"]) for m in ms]))
    add("knn_euclid_mean_absdiff_teguide", np.mean([abs(rows[m]["knn_euclid"] - rows[m]["knn_teguide"]) for m in ms]))
    add("knn_wt", wt([rows[m]["knn"] for m in ms])); add("knn_euclid_wt", wt([rows[m]["knn_euclid"] for m in ms]))
    add("knn_teguide_wt", wt([rows[m]["knn_teguide"] for m in ms]))
    add("knn_tau_ours_teguide", kendalltau([rows[m]["knn_euclid"] for m in ms], [rows[m]["knn_teguide"] for m in ms]).statistic)
    # probe
    add("probe_mean_absdiff_teguide", np.mean([abs(rows[m]["probe"] - rows[m]["probe_teguide"]) for m in ms]))
    add("probe_wt", wt([rows[m]["probe"] for m in ms])); add("probe_teguide_wt", wt([rows[m]["probe_teguide"] for m in ms]))
    add("probe_tau_ours_teguide", kendalltau([rows[m]["probe"] for m in ms], [rows[m]["probe_teguide"] for m in ms]).statistic)
    add("n", len(ms))
for k, vals in summary.items():
    print(f"{k:42s}", " ".join(f"{x:9.3g}" for x in vals), f"| mean {np.nanmean(vals):.4g}")
print("datasets:", ", ".join(d))

"""``lead-hf publish RESULTS``: the CLI face of :func:`lead_hf.hub.publishing.publish`."""
from __future__ import annotations

import sys

from ..hub.publishing import PublishError, PublishOptions, publish
from .command import Command

DESCRIPTION = """\
Publish ranking results (the results.json written by `lead-hf rank`) where Hugging Face users look:

  * each ranked model with a Hub id gets its scores on its card: the model-index metadata, an
    .eval_results/*.yaml file and a short README section; by default as a pull request (--no-pr: commit);
  * --leaderboard NAMESPACE/NAME: a dataset repo with the results files and a README table, in one commit.

Re-publishing the same results changes nothing; a different existing value is refused unless --overwrite.
Results computed on local data (an image folder, parquet files, embedded:) are published only under the
Hub dataset id you name with --dataset-id ORG/NAME; no local path ever goes into a card or a leaderboard.
Start with --dry-run: it prints the diff of every file that would change and sends nothing.
The token comes from HF_TOKEN or `hf auth login` (best), --token-file FILE (- for standard input), or --token
(visible in the process list while publish runs); it is never printed.

examples:
  lead-hf publish results/my-org_pets-train/results.json --dry-run
  lead-hf publish results/my-org_pets-train/results.json --leaderboard my-org/transferability
  lead-hf publish results/imagefolder__photos-train/results.json --dataset-id my-org/photos --dry-run
  lead-hf publish results/embedded_digits-train/results.json --no-cards --leaderboard my-org/transferability \\
      --dataset-id my-org/digits --dry-run
"""


def run(opts: PublishOptions) -> int:
    try:
        report = publish(options=opts)
    except PublishError as err:
        if err.report is not None:
            print(err.report.render(diffs=False), end="")
        print(f"lead-hf publish: error: {err}", file=sys.stderr)
        return 1
    print(report.render(), end="")
    return 1 if report.conflicts else 0


COMMAND = Command(name="publish", options=PublishOptions, run=run, description=DESCRIPTION,
                  positional=("results",))

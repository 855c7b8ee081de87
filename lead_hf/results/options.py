"""Where a job writes its results files (``rank`` and ``benchmark``); imports no ML framework."""
from __future__ import annotations

from dataclasses import dataclass

from ..utils.constraints import Constrained, PathLike


@dataclass
class OutputOptions(Constrained):
    """Where a job writes its results files: ``rank`` and ``benchmark``."""

    output_dir: str = "results"
    """Folder the results files go to: rank writes results.json, .csv, .md and chart.png into a sub-folder
    per dataset split; benchmark writes <name>.{json,csv,md,png} and <name>_fidelity.json."""

    constraints = {"output_dir": PathLike()}

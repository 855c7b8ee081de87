"""The contract between jobs: the results schema that ``rank`` writes and ``publish``, ``benchmark`` and
the reports read, the folder store that merges and archives them, their summary fields, reports, ground
truth and rank agreement. Importing the package imports only the schema (no ML framework)."""
from .schema import DatasetInfo, ModelResult, RankingResults

__all__ = ["DatasetInfo", "ModelResult", "RankingResults"]

import os

# Tests never touch the network: make every HF library fail fast instead of trying.
for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

# The benchmark zoo is a plugin of the zoo registry (benchmarks/zoo, not installed): the tests that run over
# the registry, the benchmark's and the converters' tests see its members too.
import benchmarks.zoo  # noqa: E402,F401

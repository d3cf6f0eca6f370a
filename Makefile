# Every target creates .venv (Python 3.11) on first use.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean addon data

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q -e ".[dev,blender]"
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py

test: $(STAMP)
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

# The training data the shipped models use, in the ignored data/ folder (about 35 min on one core; folders that
# exist are kept). Bandai-Namco clips are CC BY-NC 4.0: never commit them.
SHARED ?= ../shared/data
KINMO := $(VENV)/bin/kinmo
data: $(STAMP)
	@test -d data/bandai || $(KINMO) corpus import-bvh $(SHARED)/bandai-namco-1/data -o data/bandai
	@test -d data/bandai2 || $(KINMO) corpus import-bvh $(SHARED)/bandai-namco-2-train.tar.xz -o data/bandai2
	@test -d data/synth20k || $(KINMO) corpus synth -n 20000 --seed 0 -o data/synth20k --workers 2
	@test -d data/synthknee || $(KINMO) corpus synth -n 2000 --seed 1 --leg-weight knee_lift=1 -o data/synthknee
	@for d in bandai bandai2 synth20k synthknee; do test -f data/$$d/annotations.json || \
		$(KINMO) annotate data/$$d -o data/$$d/annotations.json --workers 2 || exit 1; done

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist *.egg-info

# The Blender add-on zip (extension and legacy add-on in one): dist/kinmo-<version>.zip. Needs only Python 3.11.
addon: $(PY)
	$(PY) blender_addon/build.py --overwrite

# advex-lit: two commands for a fresh machine (see README.md)
#   make book   venv + pinned stack + reachable data + export + executed book in _build/html (quick profile)
#   make test   venv + pinned stack + reachable data + literate checks + pytest + executed book with -W
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Data the loaders find without internet lands here (Debian data packages, extracted).
ADVEX_DATA ?= $(HOME)/.advex_lit/data
export ADVEX_DATA
export TF_CPP_MIN_LOG_LEVEL := 3
export KERAS_BACKEND ?= tensorflow
export PYTHONHASHSEED := 0
DEBS := dataset-fashion-mnist r-cran-kernlab r-cran-cba
BOOK_FLAGS := --all -W -n --keep-going

.PHONY: book test fuzz cpu-evidence venv cluster data browser mathjax export clean-nbs pytest book-build book-cache print-book-flags bench clean help

help:
	@sed -n '1,4p' Makefile

venv: $(VENV)/.installed

$(VENV)/.installed: settings.ini setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

# The optional sweep engine (submitit), for run_sweep / --executor; make test installs it to test the executor.
cluster: $(VENV)/.cluster

$(VENV)/.cluster: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e ".[dev,cluster]"
	touch $@

data: $(ADVEX_DATA)/debian/.done

# Debian ships Fashion-MNIST, Spambase (kernlab) and Mushroom (cba) as data files; we extract them, no R needed.
$(ADVEX_DATA)/debian/.done:
	mkdir -p "$(ADVEX_DATA)/debian/debs"
	if ! command -v apt-get >/dev/null; then \
	  echo "make data: no apt-get here; the loaders will say how to get each data set."; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then apt-get update -qq; fi; \
	cd "$(ADVEX_DATA)/debian/debs" && apt-get download -qq $(DEBS) 2>&1 | grep -v '^W: Download is performed unsandboxed' || true; \
	for f in "$(ADVEX_DATA)"/debian/debs/*.deb; do dpkg-deb -x "$$f" "$(ADVEX_DATA)/debian"; done; \
	ls "$(ADVEX_DATA)"/debian/debs/*.deb | wc -l | grep -qx 3 || { echo "make data: apt-get download of $(DEBS) failed"; exit 1; }; \
	touch "$(ADVEX_DATA)/debian/.done"

export: venv
	$(BIN)/nbdev_export

clean-nbs: venv
	$(BIN)/nbdev_clean

# jupyter-cache keys on notebook code only: drop it whenever the package or settings change.
book-cache:
	@mkdir -p _build
	@h=$$(cat advex_lit/*.py settings.ini _config.yml | sha256sum | cut -c1-16); \
	if [ "$$(cat _build/.pkg-hash 2>/dev/null)" != "$$h" ]; then \
	  rm -rf _build/.jupyter_cache; echo "$$h" > _build/.pkg-hash; echo "book: package changed, execution cache cleared"; fi

print-book-flags:
	@echo $(BOOK_FLAGS)

book-build: book-cache
	$(BIN)/jupyter-book build . $(BOOK_FLAGS)

book: venv data mathjax export
	$(MAKE) book-build
	@echo "book: open _build/html/index.html"

pytest: venv cluster teach-venv data bench-peers
	$(BIN)/python -m pytest tests/ -q -m "not reader"

# Debian's Chromium, driven by Playwright in the reader test
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq chromium >/dev/null; } \
	  || { echo "make browser: install Debian's chromium (apt-get install chromium)"; exit 1; }

# MathJax 3 copied into the built site (as _build/html/mathjax/), so math renders offline (falls back to the CDN when npm is missing)
mathjax: .mathjax/mathjax/tex-chtml.js

.mathjax/mathjax/tex-chtml.js:
	@if command -v npm >/dev/null; then \
	  tmp=$$(mktemp -d) && (cd $$tmp && npm pack -q mathjax@3.2.2 >/dev/null) && \
	  mkdir -p .mathjax/mathjax && tar -xzf $$tmp/mathjax-3.2.2.tgz -C .mathjax/mathjax --strip-components=2 package/es5 && \
	  rm -rf $$tmp; else echo "make mathjax: no npm; the book will load MathJax from its CDN"; fi

# The book build and the tests that do not read the book run side by side (each keeps about one core busy, and the
# test venvs install while the book executes; their progress lines interleave); the reader tests then open the book.
test: venv cluster data browser mathjax
	$(MAKE) --no-print-directory -j 2 book-build pytest
	$(BIN)/python -m pytest tests/ -q -m reader

# Property tests with fresh random examples, FUZZ_FACTOR times as many as the deterministic CI run draws.
# Pin every failure it finds with @example(...) on the test, so that `make test` checks it from then on.
FUZZ_FACTOR ?= 20
fuzz: venv data
	ADVEX_HYPOTHESIS_PROFILE=fuzz ADVEX_FUZZ_FACTOR=$(FUZZ_FACTOR) $(BIN)/python -m pytest tests/ -q -m property

# The cpu profile, the evidence (hours on 2 cores; resumes where it stopped): records under results/cpu/<experiment>/.
# Image and robust-attribution experiments first, in the order their models are shared; run it under nohup.
CPU_EXPERIMENTS := table1_images fig2 fig1 fig3 table2 robust_maps table4 table3 table1_tabular app_i feat_indep tabular_variants
cpu-evidence: venv data export
	for n in $(CPU_EXPERIMENTS); do $(BIN)/advex-lit reproduce $$n --profile cpu --rerun-stale; done

bench: venv data bench-peers
	$(BIN)/python benchmarks/run_all.py

# The peer libraries of benchmark 8 (xplique, Captum, ART), each in its own venv under $(PEER_VENVS)/, since their
# pins differ from ours; a peer's --no-deps packages (xplique pins a CUDA TensorFlow) are listed in nodeps-<peer>.txt.
PEER_VENVS := .venv-peers
PEERS := xplique captum art
PEER_STAMPS := $(foreach p,$(PEERS),$(PEER_VENVS)/$(p)/.installed)
.PHONY: bench-peers
bench-peers:  # the three venvs install side by side (a sub-make with one job per peer): most of it is unpacking
	$(MAKE) --no-print-directory -j $(words $(PEERS)) $(PEER_STAMPS)

$(PEER_VENVS)/%/.installed: benchmarks/peers/requirements-%.txt
	test -x $(PEER_VENVS)/$*/bin/python || $(PYTHON) -m venv $(PEER_VENVS)/$*
	$(PEER_VENVS)/$*/bin/python -m pip install -q --upgrade pip
	$(PEER_VENVS)/$*/bin/python -m pip install -q -r $<
	if [ -f benchmarks/peers/nodeps-$*.txt ]; then \
	  $(PEER_VENVS)/$*/bin/python -m pip install -q --no-deps -r benchmarks/peers/nodeps-$*.txt; fi
	touch $@

# Every benchmark script at tiny sizes (seconds each): checks they run, measures nothing, writes nothing.
.PHONY: bench-smoke
bench-smoke: venv bench-peers
	$(BIN)/python benchmarks/run_all.py --smoke

clean:
	rm -rf _build

# ---- Course kit (issue 17): autograded assignments, launch cells, lab times ----
# otter-grader pins wrapt<2 while the main stack has wrapt 2, so the assignment tooling lives in a venv of its own:
# the package with its pinned stack, plus assignments/requirements.txt.
TEACH_VENV := .venv-teach
TEACH_BIN := $(TEACH_VENV)/bin
ASSIGNMENTS_OUT := _build/assignments
.PHONY: teach-venv assignments test-assignments launch-cells lab-times

teach-venv: $(TEACH_VENV)/.installed

$(TEACH_VENV)/.installed: settings.ini setup.py assignments/requirements.txt
	test -x $(TEACH_BIN)/python || $(PYTHON) -m venv $(TEACH_VENV)
	$(TEACH_BIN)/python -m pip install -q --upgrade pip
	$(TEACH_BIN)/python -m pip install -q -e . -r assignments/requirements.txt
	touch $@

# For each assignment of the teaching page: a student notebook and an autograder (public and hidden tests), built by
# otter assign from assignments/*.yml, which point at the chapters' exercises and solutions.
assignments: venv teach-venv data export
	$(TEACH_BIN)/python assignments/build.py build --out $(ASSIGNMENTS_OUT)
	@echo "assignments: student notebooks and autograders in $(ASSIGNMENTS_OUT)/"

# Only the assignment tests (tests/test_assignments.py also runs in `make test`).
test-assignments: venv teach-venv data
	$(BIN)/python -m pytest tests/test_assignments.py tests/test_launch.py -q

# The first cell that installs the package on Colab and Binder, into the chapters in LAUNCH_NOTEBOOKS (idempotent).
# Inserting a cell renumbers the `# %%` cell comments of an exported module: run `make export` afterwards.
LAUNCH_NOTEBOOKS := $(wildcard nbs/*.ipynb)
launch-cells: venv
	$(BIN)/python -m advex_lit.launch insert $(LAUNCH_NOTEBOOKS)

# Measured wall and CPU minutes of the labs of the teaching page (rewrites its table and benchmarks/results/lab_times.json).
lab-times: venv data
	$(BIN)/python benchmarks/lab_times.py --write

# make demo: set up, run the main job on the embedded demo crawl, train the tiny GPT on its shards and
# evaluate it few-shot (clean vs dirty examples of the demo's benchmarks).
# make test: set up, lint (ruff check), then run the whole test suite (what .ci/run calls, then make test-slow).
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed

export SPARK_LOCAL_IP ?= 127.0.0.1
export PYSPARK_PYTHON := $(BIN)/python
export PYSPARK_DRIVER_PYTHON := $(BIN)/python
export PATH := $(BIN):$(PATH)

.PHONY: demo test test-slow bench java browser setup clean

setup: $(STAMP)

java:
	@sh .ci/check-java

browser:  # for the HTML report's test in headless Chromium (skipped with a message where it cannot install)
	@sh .ci/install-browser

# torch==2.13.0 is pinned in pyproject.toml: on this machine pip takes the CPU build from local disk.
$(STAMP): pyproject.toml | java
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	SPARK_CONF_DIR=$(CURDIR) $(BIN)/spark-submit jobs/filter.py
	$(BIN)/python -m model.train --data out/shards --preset tiny --out out/runs/tiny \
	    $$(test -f out/runs/tiny/ckpt.pt && echo --resume)
	$(BIN)/python -m model.evaluate --checkpoint out/runs/tiny --shots 0,1,8 --limit 50 \
	    --tasks arithmetic,wordscramble,demo-data/benchmarks/prose_cloze.jsonl \
	    --contamination out/reports/contamination.json
	@echo "report: $(CURDIR)/$$($(BIN)/python -m corpus.report out)"

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# Whole-pipeline runs in subprocesses, several minutes, so apart: a standalone Spark cluster (a master and two
# workers on loopback) against local[2], and kill -9 during the dedup stage then a rerun.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

bench: $(STAMP)
	$(BIN)/python -m bench.extract
	$(BIN)/python -m bench.extract_quality
	$(BIN)/python -m bench.quality
	$(BIN)/python -m bench.dedup
	$(BIN)/python -m bench.decontam
	$(BIN)/python -m bench.shards
	$(BIN)/python -m bench.train
	$(BIN)/python -m bench.evaluate

clean:
	rm -rf out demo-data .pytest_cache

# The two commands a user needs: `make demo` (the main job) and `make test`.
# Both set up everything themselves (apt packages, sandbox users, venv) via scripts/setup.sh.
PY := .venv/bin/python

.PHONY: setup test test-fast demo bench clean

setup:
	bash scripts/setup.sh

# CI's command: the whole suite, with the 25 slowest tests listed (keep it under 25 minutes)
test: setup
	$(PY) -m pytest -q --durations=25

# the edit-test loop: no Prefect server, no slow or learning tests (under 3 minutes)
test-fast: setup
	$(PY) -m pytest -q -m "not slow and not prefect and not learning" --durations=10

demo: setup
	bash scripts/demo.sh

bench: setup
	$(PY) bench/bench_store.py
	$(PY) bench/bench_sandbox.py

clean:
	rm -rf .ctrl

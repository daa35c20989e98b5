# The two commands a user needs: `make demo` (the main job) and `make test`.
# Both set up everything themselves (apt packages, sandbox users, venv) via scripts/setup.sh.
PY := .venv/bin/python

.PHONY: setup test demo bench clean

setup:
	bash scripts/setup.sh

test: setup
	$(PY) -m pytest -q

demo: setup
	bash scripts/demo.sh

bench: setup
	$(PY) bench/bench_store.py
	$(PY) bench/bench_sandbox.py

clean:
	rm -rf .ctrl

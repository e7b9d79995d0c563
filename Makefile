# jupyter-mltf developer entry points. `make demo` and `make test` are the README's two commands.
SHELL := /bin/bash

.PHONY: demo test up down hub-up lint bench wheel

demo:            ## one-host Slurm + MLflow (or the local backend), submit the example, follow it, print the run URL
	bash scripts/demo.sh

test:            ## everything CI runs
	bash scripts/test.sh

up:              ## bring the one-host stack up (root)
	bash scripts/setup.sh && bash scripts/stack/up.sh && bash scripts/install-src.sh

down:            ## stop the stack
	bash scripts/stack/down.sh

lint:
	/opt/mltf/venv/bin/ruff check jupyter_mltf tests bench hub_config && /opt/mltf/venv/bin/mypy

bench:           ## print the performance ratios against the raw tools
	bash scripts/bench.sh

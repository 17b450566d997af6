# Entry points for a fresh machine without ROS 2 (see README.md).
#   make demo   set up if needed, then run the main job
#   make test   set up if needed, then lint and run the whole test suite
SHELL := /bin/bash
ENV := . ./env.sh

.PHONY: setup demo test lint clean

# make demo MODE=local | MODE=offload-image reruns the demo with a baseline;
# make demo FLEET=4 runs 4 vehicles, each replaying its own drive (4 x 20 frames), against one edge
MODE ?= split
FLEET ?= 0

setup:
	./scripts/setup_env.sh

demo: setup
	$(ENV) && splitee demo --mode $(MODE) --fleet $(FLEET) $(if $(filter-out 0,$(FLEET)),--drives 4 --out artifacts/demo_fleet)

lint: setup
	$(ENV) && ruff check . && ruff format --check . && mypy

test: lint
	$(ENV) && pytest && ./scripts/colcon_check.sh

clean:
	rm -rf .venv build install log .pytest_cache .ruff_cache .mypy_cache

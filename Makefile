# postpress-etl. CI runs exactly `make test` (see .ci/run); every target here works on a fresh
# clone: the Python venv (DuckDB, moto) and the S3-compatible test server are installed and
# started by the project's own scripts.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: help build demo test lint fmt check-jobs validate-jobs check-deploy e2e docs bench s3-up s3-down clean crash-sweep

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## Build both binaries (debug)
	$(CARGO) build --workspace --bins

demo: build ## Run the demo job against the simulator, output in ./out
	bash scripts/demo.sh

lint: ## cargo fmt --check and clippy with -D warnings
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --workspace --all-targets --features postpress-etl/crash-points -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

check-jobs: build ## Validate every example job with `postpress-etl validate`
	$(MAKE) validate-jobs

# Without a build of its own: `make test` reuses the binaries `cargo test` built (a plain
# `cargo build` resolves dev-dependency features differently and would rebuild half the tree).
# validate needs an API key as run does (never its value): the environment's wins over a key file.
validate-jobs: ## Validate every example job with the binary `cargo test` built (no build of its own)
	@for j in jobs/*.toml; do POSTPRESS_API_KEY=validate-only target/debug/postpress-etl validate "$$j" >/dev/null || exit 1; echo "valid: $$j"; done

# The tools of each ecosystem, from .venv-deploy (Airflow is big: the first install takes a minute).
check-deploy: ## Check the Airflow DAG (DagBag, Airflow 3), the manifests (kubernetes-validate) and the Dockerfile (hadolint)
	bash scripts/venv-deploy.sh
	.venv-deploy/bin/python scripts/check-deploy.py

e2e: build ## Export with the real binary and query the result with DuckDB
	bash scripts/e2e.sh

docs: build ## Check README.md and docs/: every SQL block on a demo output, links, cli.md, job-file keys
	bash scripts/check-docs.sh

test: lint ## Everything CI runs: lint, unit + integration tests (S3 included), DuckDB end to end, docs
	bash scripts/venv.sh
	bash scripts/s3-server.sh start
	eval "$$(bash scripts/s3-server.sh env)" && export POSTPRESS_S3_TESTS=1 POSTPRESS_CRASH_SWEEP=local \
	  && $(CARGO) test --workspace --all-targets --features postpress-etl/crash-points -- --skip crash_points \
	  && $(CARGO) test --workspace --features postpress-etl/crash-points --test integration crash_points -- --nocapture; \
	  status=$$?; bash scripts/s3-server.sh stop; exit $$status
	$(MAKE) validate-jobs
	bash scripts/e2e.sh
	bash scripts/check-docs.sh
	bash scripts/venv-deploy.sh && .venv-deploy/bin/python scripts/check-deploy.py

crash-sweep: ## Every crash point of a small run and its finalize, local disk and S3 (make test: all local, a quarter on S3)
	bash scripts/venv.sh
	bash scripts/s3-server.sh start
	eval "$$(bash scripts/s3-server.sh env)" && POSTPRESS_S3_TESTS=1 POSTPRESS_CRASH_SWEEP=full \
	  $(CARGO) test --workspace --features postpress-etl/crash-points --test integration crash_points -- --nocapture; \
	  status=$$?; bash scripts/s3-server.sh stop; exit $$status

bench: ## Benchmarks against the simulator; writes bench/results.md
	bash bench/run.sh

s3-up: ## Start the local S3-compatible server (moto)
	bash scripts/venv.sh && bash scripts/s3-server.sh start && bash scripts/s3-server.sh env

s3-down: ## Stop it
	bash scripts/s3-server.sh stop

clean: ## Remove build output and the demo's ./out
	$(CARGO) clean
	rm -rf out

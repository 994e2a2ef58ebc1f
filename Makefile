# The README's commands. `make run` and `make test` install what they need themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# make load: the proxy it drives (the tutorial's `eval "$(scripts/plan.py env)"` exports PROXY)
# and Locust's own options, e.g. ARGS="--headless -u 20 -r 5 -t 60s". Its web UI listens on
# 127.0.0.1 only, as the fleet does.
PROXY ?= http://127.0.0.1:8000
ARGS ?=

.PHONY: run run-real test containers dist install lint format lock migrations-check manifests clean-data prometheus check-manifests bench-proxy bench-proxy-hotpath bench-nginx-plane bench-control bench-functions bench-graphql bench-stock-events bench-grpc grpc-stubs cost load polyglot polyglot-bench

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "strangler needs Python 3.11"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -c requirements.lock -e ".[dev]"
	@touch $(STAMP)
	@echo "installed into $(VENV)"

install: $(STAMP)

run: install  ## the whole system on embedded defaults (SQLite files, kombu filesystem broker)
	@$(BIN)/python scripts/run.py

run-real: install  ## the same fleet on PostgreSQL + RabbitMQ + Redis (local servers unless DATABASE_URL etc. are set)
	@$(BIN)/python scripts/run.py --real

test: install  ## every test on SQLite, then on PostgreSQL + RabbitMQ (+ Redis): service suites, tutorial, e2e, integration tests
	@$(BIN)/python scripts/test.py

load: install  ## Locust's realistic shop load through the proxy: web UI on http://127.0.0.1:8089, or ARGS="--headless -u 20 -r 5 -t 60s"
	@$(BIN)/locust -f loadtest/locustfile.py --host $(PROXY) --web-host 127.0.0.1 $(ARGS)

containers: install  ## podman (Debian, rootful): build the images here, run the compose fleet, smoke walk
	@$(BIN)/python scripts/containers.py

dist: install  ## build the installable wheels into dist/: strangler-proxy and django-strangler (packages/)
	@$(BIN)/python scripts/dist.py

lint: install
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .

format: install
	@$(BIN)/ruff format .
	@$(BIN)/ruff check --fix .

migrations-check: install
	@DJANGO_ENV=test $(BIN)/python manage.py makemigrations --check --dry-run

lock: install  ## re-pin every dependency after editing pyproject.toml
	@$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e ' > requirements.lock

manifests: install  ## regenerate docker-compose.yml and k8s/ from the Procfile and the port map
	@$(BIN)/python -m deploy.generate

clean-data:  ## forget the embedded databases, broker folder and keys
	rm -rf var/

prometheus: install  ## Prometheus on :9090 scraping the `make run` fleet (installs Debian's package if missing)
	@$(BIN)/python scripts/prometheus.py

check-manifests: install  ## Dockerfile, compose, k8s overlays, CI workflow: static checks only
	@DJANGO_ENV=test $(BIN)/python -m pytest tests/infra -q --deselect tests/infra/test_local_prometheus.py --deselect tests/infra/test_dist.py

bench-proxy: install  ## req/s and p50/p99: direct, strangler proxy, nginx, the nginx plane, django-revproxy (installs wrk, nginx)
	@$(BIN)/python benchmarks/bench_proxy.py

bench-nginx-plane: install  ## the nginx plane's own CPU per request beside plain nginx proxying, no Python upstream (installs wrk, nginx)
	@$(BIN)/python benchmarks/bench_nginx_plane.py

bench-proxy-hotpath: install  ## the proxy's own CPU per request, this checkout beside BASE (where it left main); CALLGRIND=1 counts instructions, REDIS=url shares breakers in Redis, CLOCK=wall
	@$(BIN)/python benchmarks/bench_proxy_hotpath.py $(if $(BASE),--base $(BASE)) $(if $(CALLGRIND),--callgrind) $(if $(REDIS),--redis $(REDIS)) $(if $(CLOCK),--clock $(CLOCK))

bench-events: install  ## relay throughput and commit-to-applied lag vs a raw baseline (needs PostgreSQL + RabbitMQ)
	@$(BIN)/python benchmarks/bench_events.py

bench-graphql: install  ## the same catalog reads over REST and GraphQL: p50/p99 and bytes per read
	@$(BIN)/python benchmarks/bench_graphql.py

bench-stock-events: install  ## the catalog's event-sourced stock: append rate, load with/without snapshots, rebuild
	@$(BIN)/python benchmarks/bench_stock_events.py

bench-grpc: install  ## the checkout quote over REST and gRPC in one run: p50/p99 and CPU per call (ARGS="--mtls": under mTLS too, and the handshake)
	@$(BIN)/python benchmarks/bench_grpc.py $(ARGS)

grpc-stubs: install  ## regenerate contracts/proto's Python stubs after editing a .proto
	@$(BIN)/python scripts/grpc_stubs.py

bench-control: install  ## a route flip on the shared control store, until 3 replicas applied it (needs Redis)
	@$(BIN)/python benchmarks/bench_control_store.py

cost: install  ## the monolith alone vs the strangled fleet, measured here: memory, processes, latencies, event lag, code; then each appendix pattern vs the plain way (ARGS="--samples 5 --real --json FILE --patterns-only --no-patterns")
	@$(BIN)/python benchmarks/cost.py $(ARGS)

polyglot: install  ## build the catalog reads in every language here (polyglot/; Go's, Java's and Kotlin's toolchains from Debian) and run the shared tests (needs PostgreSQL + RabbitMQ)
	@$(BIN)/python scripts/polyglot_toolchains.py
	@STRANGLER_BACKENDS=postgres+rabbitmq+redis DJANGO_ENV=test DJANGO_SETTINGS_MODULE=extracted.catalog.settings \
		DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres} \
		CELERY_BROKER_URL=$${CELERY_BROKER_URL:-amqp://guest:guest@127.0.0.1:5672//} \
		STRANGLER_DATA_DIR=$$(mktemp -d) $(BIN)/python -m pytest tests/polyglot -q

polyglot-bench: install  ## the languages compared in one run: code, build, size, start-up, memory, p50/p99, req/s, event rate (installs wrk)
	@$(BIN)/python benchmarks/polyglot.py $(ARGS)

bench-functions: install  ## the order-email function's cold start: functions-framework, the Lambda runtime client, import + invoke
	@$(BIN)/python benchmarks/bench_function_cold_start.py

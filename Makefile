# Cabdesk: `make demo` runs the whole office on this machine; `make test` runs every test.
# Both build the virtualenv at .venv and install what they need, system packages included.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
FLASK := $(VENV)/bin/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: demo test lint format static translations system-demo system-test clean-demo messages bench bench-quick load soak

# The virtualenv, rebuilt when a requirements file changes.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "Cabdesk needs $(PYTHON) (Debian: apt-get install python3.11 python3.11-venv)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

# Front-end libraries from the npm registry, served from static/vendor (never a CDN).
static/vendor/.installed: package.json package-lock.json
	@command -v npm >/dev/null || bash scripts/system-packages.sh npm
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf static/vendor && mkdir -p static/vendor/socket.io static/vendor/vazirmatn/fonts/webfonts
	cp node_modules/socket.io-client/dist/socket.io.min.js node_modules/socket.io-client/dist/socket.io.min.js.map static/vendor/socket.io/
	cp node_modules/vazirmatn/Vazirmatn-Variable-font-face.css node_modules/vazirmatn/OFL.txt static/vendor/vazirmatn/
	cp 'node_modules/vazirmatn/fonts/webfonts/Vazirmatn[wght].woff2' static/vendor/vazirmatn/fonts/webfonts/
	mkdir -p static/vendor/twilio && cp node_modules/@twilio/voice-sdk/dist/twilio.min.js node_modules/@twilio/voice-sdk/LICENSE.md static/vendor/twilio/
	mkdir -p static/vendor/leaflet && cp -r node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css node_modules/leaflet/dist/images node_modules/leaflet/LICENSE static/vendor/leaflet/
	mkdir -p static/vendor/leaflet-geoman && cp node_modules/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.min.js node_modules/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.min.js.map node_modules/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css node_modules/@geoman-io/leaflet-geoman-free/LICENSE static/vendor/leaflet-geoman/
	mkdir -p static/vendor/chartjs && cp node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/LICENSE.md static/vendor/chartjs/
	touch $@

static: static/vendor/.installed

# Compiled message catalogs (.mo) from the committed .po files.
translations: $(VENV)/.installed
	$(VENV)/bin/pybabel compile --use-fuzzy -d translations --statistics 2>&1 | grep -v '^$$' || true

# Re-extract the strings to translate after changing templates or code (for developers).
messages: $(VENV)/.installed
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l --project Cabdesk --ignore-dirs=".* ._ node_modules tests migrations bench" -o translations/messages.pot .
	$(VENV)/bin/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching

system-demo:
	@bash scripts/system-packages.sh redis-server

system-test:
	@bash scripts/system-packages.sh redis-server postgresql chromium nginx openssl

demo: system-demo $(VENV)/.installed static translations
	$(PY) scripts/demo.py --host $(HOST) --port $(PORT)

test: system-test $(VENV)/.installed static translations
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest

# Every benchmark of bench/ in turn (never part of `make test`), then one table of their headline figures against
# their targets (bench/README.md): about 20 minutes at full scale. Options go in BENCH_ARGS, e.g. BENCH_ARGS="--only crm".
bench: system-test $(VENV)/.installed static translations
	$(PY) -m bench.all $(BENCH_ARGS)

# The same with each benchmark at its small scale: about 5 minutes, for a quick look (not for the figures).
bench-quick: system-test $(VENV)/.installed static translations
	$(PY) -m bench.all --quick $(BENCH_ARGS)

# The load run (bench/README.md, "Load run and soak (issue 9)"): the production topology on this machine under a shift's
# load for 3 minutes, then the reconciliation and memory: about 6 minutes. Not part of `make bench`. Options in LOAD_ARGS.
load: system-test $(VENV)/.installed static translations
	$(PY) -m bench.load_run $(LOAD_ARGS)

# The same for 30 minutes, the memory slope as the headline: about 35 minutes. Options in SOAK_ARGS.
soak: system-test $(VENV)/.installed static translations
	$(PY) -m bench.load_run --soak $(SOAK_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Forget the demo office (database, Redis data, secret key) so the next `make demo` starts afresh.
clean-demo:
	rm -rf instance

# genred: `make run` runs the daemon on its defaults; `make test` installs what the
# tests need and runs the whole suite. Both work on a fresh Debian / Raspberry Pi OS.

PYTHON ?= python3
VENV ?= .venv
RUN_VENV ?= .venv-run
# System packages: PortAudio for sounddevice, libsndfile for soundfile, mosquitto for
# the MQTT tests' real broker.
APT_PACKAGES = libportaudio2 libsndfile1 mosquitto

.PHONY: run test system-deps model clean

# The runtime set only: what a device installs (no TensorFlow, no test tools).
$(RUN_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(RUN_VENV)
	$(RUN_VENV)/bin/pip install -q --upgrade pip
	$(RUN_VENV)/bin/pip install -q -e .
	touch $@

# Until the live daemon lands, `make run FILE=song.wav` replays a file.
run: $(RUN_VENV)/.installed
	@if [ -z "$(FILE)" ]; then echo "usage: make run FILE=song.wav   (the live daemon comes with issue 3)"; exit 2; fi
	$(RUN_VENV)/bin/genred replay --format text "$(FILE)"

system-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
		if [ -n "$$missing" ]; then \
			echo "installing system packages:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		fi; \
	else \
		echo "not root (or no apt-get): make sure these are installed: $(APT_PACKAGES)"; \
	fi

# Everything: runtime, training (TensorFlow) and the test tools.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[train,dev]'
	touch $@

test: system-deps $(VENV)/.installed
	$(VENV)/bin/python -m pytest -q

# Retrain the shipped model from ../shared/data/gtzan (about N minutes on 2 cores).
GTZAN ?= ../shared/data/gtzan
model: $(VENV)/.installed
	$(VENV)/bin/python -m genred.training --data $(GTZAN) \
		--train-list $(GTZAN)/train_filtered.txt --valid-list $(GTZAN)/valid_filtered.txt \
		--out daemon/models/default --seed 1

clean:
	rm -rf $(VENV) $(RUN_VENV) .cache .pytest_cache *.egg-info

# genred: `make run` runs the daemon on its defaults; `make test` installs what the
# tests need and runs the whole suite. Both work on a fresh Debian / Raspberry Pi OS.

PYTHON ?= python3
VENV ?= .venv
RUN_VENV ?= .venv-run
# System packages: venv support, PortAudio for sounddevice, libsndfile for soundfile;
# the tests add mosquitto (their real broker) and systemd (to verify the unit).
# (Debian's python3 lacks ensurepip until python3-venv is installed.)
NEED_VENV := $(shell $(PYTHON) -c 'import ensurepip' 2>/dev/null || echo python3-venv)
RUN_APT = $(NEED_VENV) libportaudio2 libsndfile1
TEST_APT = $(RUN_APT) mosquitto mosquitto-clients systemd

.PHONY: run test lint model pool speech sounds clean

# The runtime set only: what a device installs (no TensorFlow, no test tools).
$(RUN_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(RUN_VENV)
	$(RUN_VENV)/bin/pip install -q --upgrade pip
	$(RUN_VENV)/bin/pip install -q -e .
	touch $@

# The daemon on its defaults: the default microphone, a broker on localhost if any
# (without one it still prints each genre change). A file instead of the microphone:
# make run FILE=song.wav; other flags: make run ARGS="--config my.yaml".
run:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(RUN_APT)"
	@$(MAKE) --no-print-directory $(RUN_VENV)/.installed
	$(RUN_VENV)/bin/genred run $(if $(FILE),--source file:$(FILE)) $(ARGS)

# Installs the missing ones of $(PACKAGES) when root on Debian; otherwise names them.
apt-install:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		missing=""; for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
		if [ -n "$$missing" ]; then \
			echo "installing system packages:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		fi; \
	else \
		echo "not root (or no apt-get): make sure these are installed: $(PACKAGES)"; \
	fi

# Everything: runtime, training (TensorFlow) and the test tools.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[train,dev]'
	# Only the pretrained checkpoints are used (training's teacher); its pins are obsolete.
	$(VENV)/bin/pip install -q --no-deps musicnn==0.1.0
	touch $@

test:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(TEST_APT)"
	@$(MAKE) --no-print-directory $(VENV)/.installed
	@$(MAKE) --no-print-directory lint
	$(VENV)/bin/python -m pytest -q

# The quality gate (its rules are in pyproject.toml): ruff on every Python file; mypy
# --strict on genred.dsp and genred.daemon; import-linter's contracts, the layer rule
# daemon -> dsp <- training and no TensorFlow on the device, on the import graph.
# mypy reads the packages by their installed names through links to the source folders
# under $(TYPECHECK_DIR) (it cannot see through the editable install's import hook).
TYPECHECK_DIR = build/typecheck/genred
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	@mkdir -p $(TYPECHECK_DIR) && for p in daemon dsp training; do ln -sfn ../../../$$p $(TYPECHECK_DIR)/$$p; done
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-logo

# Retrain the shipped models from ../shared/data/gtzan: the default, the medium student
# distilled from MSD_musicnn, with attention pooling over time (about 10 minutes on 2 cores,
# caches warm); and the accurate bundle, MSD_musicnn itself with a genre head fitted on
# every dev track (cross-validated first; about an hour cold, embeddings cached in .cache).
GTZAN ?= ../shared/data/gtzan
NONMUSIC ?= ../shared/data/nonmusic
model: $(VENV)/.installed
	$(VENV)/bin/python -m genred.training --data $(GTZAN) \
		--train-list $(GTZAN)/train_filtered.txt --valid-list $(GTZAN)/valid_filtered.txt \
		--out daemon/models/default --seed 1 --threads 1 --teacher --arch large_att --smoothing-fit back_to_back
	@$(MAKE) --no-print-directory pool speech sounds
	$(VENV)/bin/python -m genred.training.detector_cli build --data $(GTZAN) --nonmusic $(NONMUSIC) \
		--speech $(SPEECH) --pool $(POOL) --sounds $(SOUNDS) --synth-noise 12 --epochs 10 --steps 150 --seed 1 \
		--cv-summary docs/music_detector_cv.json --out daemon/models/default
	$(VENV)/bin/python -m genred.training.accurate --data $(GTZAN) --out daemon/models/accurate
	$(VENV)/bin/python -m genred.training.detector_cli attach --out daemon/models/accurate

# Unlabelled music for training (never committed, never read by the tests): Debian's free
# game soundtracks, fetched with apt-get download (nothing installed) and unpacked to audio
# only, one folder per package (about 800 MB of downloads). Idempotent; POOL=DIR elsewhere.
POOL ?= .cache/pool
pool: $(VENV)/.installed
	$(VENV)/bin/python -m genred.training.pool fetch --pool $(POOL)

# Synthetic speech, the "not music" of a TV (never committed, never read by the tests):
# espeak-ng, flite and festival read fortunes and the machine's translated messages in 33
# languages, about 2 hours over 87 voices, 16 kHz FLAC + SOURCES.tsv; SPEECH=DIR elsewhere.
# Remade only when DIR has no SOURCES.tsv. The engines and texts are installed when root.
SPEECH ?= .cache/speech
SPEECH_APT = espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts \
	festvox-italp16k festvox-itapc16k festvox-czech-dita festvox-czech-krb festvox-czech-machac \
	festvox-czech-ph festvox-ru festvox-suopuhe-lj festvox-suopuhe-mv festvox-ca-ona-hts \
	fortunes fortunes-de fortunes-es fortunes-it fortunes-pl fortunes-ru fortunes-cs fortunes-br \
	fortunes-bg fortunes-eo fortunes-ga fortunes-zh
speech: $(VENV)/.installed
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(SPEECH_APT)"
	$(VENV)/bin/python -m genred.training.speech --out $(SPEECH)

# Recorded sounds that are not music, for the detector (never committed, never read by the
# tests): the effects and voices of Tux Paint's stamps, Minetest and four games, fetched with
# apt-get download (about 600 MB, deleted as it goes) and joined into 8-20 s clips, about 90
# minutes in 16 kHz FLAC + SOURCES.tsv. Remade only when DIR has no SOURCES.tsv; SOUNDS=DIR elsewhere.
SOUNDS ?= .cache/sounds
sounds: $(VENV)/.installed
	$(VENV)/bin/python -m genred.training.sounds --out $(SOUNDS)

clean:
	rm -rf $(VENV) $(RUN_VENV) .cache .pytest_cache *.egg-info build .mypy_cache .ruff_cache .import_linter_cache

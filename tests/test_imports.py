"""The device never loads TensorFlow, and nothing installs a bare `daemon` package.

The layer rule (daemon -> dsp <- training) is import-linter's contract in pyproject.toml,
checked by `make lint` on the import graph."""

from __future__ import annotations

import subprocess
import sys

RUNTIME_MODULES = [
    "genred.dsp.params", "genred.dsp.melspec", "genred.dsp.resample", "genred.dsp.windows",
    "genred.dsp.audio", "genred.dsp.bundle", "genred.dsp.classifier", "genred.dsp.smoothing",
    "genred.dsp.pipeline", "genred.dsp.metrics", "genred.dsp.dataset", "genred.dsp.labels",
    "genred.daemon", "genred.daemon.cli", "genred.daemon.replay", "genred.daemon.classify", "genred.daemon.evaluate", "genred.daemon.config",
    "genred.daemon.settings", "genred.daemon.audio", "genred.daemon.backoff", "genred.daemon.mqtt.publisher", "genred.daemon.mqtt.listen", "genred.daemon.service",
    "genred.daemon.stats", "genred.daemon.systemd",
]


def test_runtime_path_never_imports_tensorflow(model_path, tmp_path):
    # Run the whole runtime path (load a model, classify audio) in a fresh interpreter.
    code = f"""
import sys, numpy as np
for name in {RUNTIME_MODULES!r}:
    __import__(name)
from genred.dsp.classifier import TfliteClassifier
from genred.dsp.pipeline import Pipeline
p = Pipeline(TfliteClassifier.from_path({str(model_path)!r}), 16000)
assert p.process(np.random.default_rng(0).standard_normal(16000 * 4).astype(np.float32) * 0.1)
bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras', 'genred.training') or m.startswith('genred.training'))
print(','.join(bad))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"runtime path imported: {proc.stdout}"


def test_no_bare_top_level_daemon_package(tmp_path):
    code = "import importlib.util as u; print(u.find_spec('daemon'), u.find_spec('dsp'), u.find_spec('training'))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.stdout.split() == ["None", "None", "None"]

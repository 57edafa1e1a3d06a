"""The device installs what it runs: the wheel carries each shipped bundle's model.json and
the .tflite files it names, not the reports, plots and training artefacts beside them,
and the daemon installed from it finds and runs its bundles."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genred.daemon import MODELS_DIR, SHIPPED_MODELS
from genred.dsp.bundle import load_metadata
from signals import music_like

ROOT = Path(__file__).resolve().parents[1]


def _bundle_files(name: str) -> set[str]:
    """What the daemon opens of a shipped bundle: the .tflite, its .json, the detector it names."""
    bundle = load_metadata(MODELS_DIR / name / "model.tflite")
    files = {bundle.tflite_path.name, bundle.metadata_path.name}
    if bundle.music_detector_path is not None:
        files.add(bundle.music_detector_path.name)
    return files


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel `pip install .` builds (deploy/install.sh does that on a Pi), from a copy of
    the checkout with a training artefact left beside a bundle, as `make model` leaves one."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for folder in ("daemon", "dsp", "training"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    np.savez(src / "daemon" / "models" / "accurate" / "head.npz", coef=np.zeros(3))
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (whl,) = out.glob("genred-*.whl")
    return whl


def test_the_wheel_carries_the_bundles_and_nothing_else_beside_them(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for model in SHIPPED_MODELS:
        folder = f"genred/daemon/models/{model}/"
        assert {n[len(folder):] for n in names if n.startswith(folder)} == _bundle_files(model), model
    # The repository's own report, plots and the accurate head stay out; training's page
    # templates are the only Markdown the package needs.
    assert (ROOT / "daemon" / "models" / "default" / "report.md").is_file()
    assert not [n for n in names if n.endswith((".png", ".npz", ".h5"))]
    assert [n for n in names if n.endswith(".md")] == sorted(
        f"genred/training/templates/{p.name}" for p in (ROOT / "training" / "templates").glob("*.md"))


def _windows_of(seconds: float, model: str) -> int:
    """The windows a shipped bundle's front end cuts from ``seconds`` of audio."""
    from genred.dsp.params import hop_frames_for

    meta = load_metadata(MODELS_DIR / model / "model.tflite").metadata
    fe, win = meta.front_end, meta.window
    frames = 1 + (round(seconds * fe.sample_rate_hz) - fe.n_fft) // fe.hop_length
    return 1 + (frames - win.window_frames) // hop_frames_for(meta.default_hop_s, fe)


def _replay(python_path: str | None, audio: Path, model: str) -> str:
    env = dict(os.environ)
    if python_path is not None:
        env["PYTHONPATH"] = python_path
    proc = subprocess.run([sys.executable, "-m", "genred.daemon", "replay", str(audio), "--model", model],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_installed_daemon_finds_its_bundles_and_runs_them_as_the_checkout_does(wheel, tmp_path):
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                           "--target", str(site), str(wheel)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    where = subprocess.run(
        [sys.executable, "-c", "import json, genred.daemon as d, genred.dsp as p\n"
         "from genred.dsp.bundle import load_metadata\n"
         "b = {m: load_metadata(d.resolve_model(m)) for m in d.SHIPPED_MODELS}\n"
         "print(json.dumps([d.__file__, p.__file__] + [str(x.tflite_path) for x in b.values()]"
         " + [str(x.music_detector_path) for x in b.values() if x.music_detector_path]))"],
        capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(site)), timeout=120)
    assert where.returncode == 0, where.stderr
    paths = json.loads(where.stdout)
    assert len(paths) == 2 + 2 * len(SHIPPED_MODELS)  # each bundle's genre model and music detector
    for p in paths:
        assert Path(p).is_relative_to(site) and Path(p).is_file(), p  # the installed copy, not the checkout
    audio = tmp_path / "music.wav"
    sf.write(str(audio), music_like(5.0, 22050, seed=2), 22050)
    for model in SHIPPED_MODELS:
        installed = _replay(str(site), audio, model)
        assert installed == _replay(None, audio, model), model
        assert json.loads(installed.splitlines()[-1])["windows"] == _windows_of(5.0, model), installed

"""Shared fixtures: the ../shared GTZAN data where present, small synthetic audio, the
shipped model and test bundles, real mosquitto brokers (tests/broker.py) and systemd's
notification socket (tests/fakes.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from broker import Mosquitto, Subscriber, make_tls_files
from fakes import NotifySocket

ROOT = Path(__file__).resolve().parents[1]
GTZAN = ROOT.parent / "shared" / "data" / "gtzan"


@pytest.fixture(scope="session")
def gtzan_dir() -> Path:
    if not (GTZAN / "audio").is_dir():
        pytest.skip("../shared/data/gtzan is not present")
    return GTZAN


@pytest.fixture(scope="session")
def gtzan_track(gtzan_dir) -> tuple[np.ndarray, int]:
    """A real rock clip, mono float32, at its own rate (22050 Hz)."""
    x, sr = sf.read(str(gtzan_dir / "audio" / "rock" / "rock.00000.flac"), dtype="float32", always_2d=True)
    return x.mean(axis=1), sr


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The shipped default model (GENRED_TEST_MODEL overrides it, for development)."""
    import os

    from genred.daemon import DEFAULT_MODEL
    from genred.dsp.bundle import bundle_paths

    path, _ = bundle_paths(os.environ.get("GENRED_TEST_MODEL", DEFAULT_MODEL))
    assert path.exists(), f"the default model is missing: {path}"
    return path


@pytest.fixture(scope="session")
def genre_only_model(model_path, tmp_path_factory) -> Path:
    """The shipped genre model without its music detector (and without the detector's gate
    settings): for tests of the genre path and of MQTT that need a genre to be published
    for synthetic music, which the detector may rightly call no music."""
    import json
    import shutil

    folder = tmp_path_factory.mktemp("genre_only")
    shutil.copy(model_path, folder / "model.tflite")
    meta = json.loads(model_path.with_suffix(".json").read_text())
    meta.pop("music_detector", None)
    meta["smoothing"] = {k: v for k, v in meta.get("smoothing", {}).items() if not k.startswith(("music_", "no_music_"))}
    (folder / "model.json").write_text(json.dumps(meta))
    return folder / "model.tflite"


@pytest.fixture(scope="session")
def classifier(model_path):
    from genred.dsp.classifier import TfliteClassifier

    return TfliteClassifier.from_path(model_path)


@pytest.fixture(scope="session")
def musicnn():
    """The MSD_musicnn port (genred.training.musicnn), or a skip where its checkpoint is missing."""
    module = pytest.importorskip("genred.training.musicnn")
    try:
        module.checkpoint_dir()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    return module


@pytest.fixture
def write_wav(tmp_path):
    def write(name: str, samples: np.ndarray, sr: int, **kwargs) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), samples, sr, **kwargs)
        return path

    return write


@pytest.fixture(scope="session")
def music_detectors(tmp_path_factory) -> dict:
    """Four tiny detectors, built once per session (tests/detectors.py): "speech" says
    P(music) ~ 0.03, "music" ~ 0.97 (both int8), "float_music" ~ 0.97 in float32, and
    "tonal" (int8) hears music in chords and none in white noise."""
    pytest.importorskip("tensorflow", reason="the test detectors are built with TensorFlow (the train extra)")
    from detectors import build_detector

    folder = tmp_path_factory.mktemp("detectors")
    made = {}
    kinds = (("speech", 0.03, "int8"), ("music", 0.97, "int8"), ("float_music", 0.97, "float32"), ("tonal", None, "int8"))
    for kind, p, dtype in kinds:
        path = folder / f"{kind}.tflite"
        made[kind] = (path, build_detector(path, p, dtype))
    return made


@pytest.fixture
def make_bundle(model_path, music_detectors, tmp_path):
    """``make_bundle(kind, edit=None, name="b")`` -> model.tflite of a bundle in tmp_path:
    the shipped genre model with the detector ``kind`` (None: without one)."""
    from detectors import make_bundle_factory

    return make_bundle_factory(model_path, music_detectors, tmp_path)


# -- brokers (tests/broker.py) ------------------------------------------------------------------


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A running anonymous broker, its own for each test."""
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    yield broker
    broker.kill()


@pytest.fixture
def mosquitto_auth(tmp_path: Path) -> Iterator[Mosquitto]:
    """A running broker that wants USERNAME / PASSWORD."""
    broker = Mosquitto(tmp_path / "mosquitto-auth", auth=True)
    broker.start()
    yield broker
    broker.kill()


@pytest.fixture
def subscriber() -> Iterator[Callable[..., Subscriber]]:
    """``subscriber(broker, [topics], **kw)``: a connected, subscribed `Subscriber`, closed after the test."""
    made: list[Subscriber] = []

    def make(broker: Mosquitto, topics: list[str], **kw: Any) -> Subscriber:
        sub = Subscriber(broker.host, broker.port, topics, **kw)
        made.append(sub)
        return sub

    yield make
    for sub in made:
        sub.close()


@pytest.fixture
def mosquitto_persistent(tmp_path: Path) -> Iterator[Mosquitto]:
    """A running broker whose sessions and queued messages survive `stop` / `start`."""
    broker = Mosquitto(tmp_path / "mosquitto-persistent", persistence=True)
    broker.start()
    yield broker
    broker.kill()


@pytest.fixture
def mosquitto_tls(tmp_path: Path) -> Iterator[Mosquitto]:
    """A running broker that speaks TLS only; its CA is ``broker.tls.ca``."""
    broker = Mosquitto(tmp_path / "mosquitto-tls", tls=make_tls_files(tmp_path / "tls"))
    broker.start()
    yield broker
    broker.kill()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    """systemd's notification socket at tmp_path/notify, recording what arrives."""
    sock = NotifySocket(tmp_path / "notify")
    yield sock
    sock.close()

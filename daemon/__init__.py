"""genred.daemon: the command line, replay/evaluate, capture and MQTT publishing."""

import os
from importlib import metadata as _metadata
from pathlib import Path

# Before numpy loads: its OpenBLAS would start a thread per CPU and spin them on the
# front end's small matrix products, costing CPU the daemon's one core does not have
# (a fifth of the runtime path in `genred bench` on 2 CPUs). A user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from genred.dsp.errors import ModelError  # noqa: E402 - after the thread setting, before numpy

try:
    __version__ = _metadata.version("genred")
except _metadata.PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

# The shipped model bundles: model.tflite with model.json (and the detector it names);
# their reports stay in the repository, not in the wheel.
MODELS_DIR = Path(__file__).resolve().parent / "models"
SHIPPED_MODELS = ("default", "accurate")  # accurate: MSD_musicnn with its genre head (docs/models.md)
DEFAULT_MODEL = MODELS_DIR / "default" / "model.tflite"


def resolve_model(model: str | Path | None) -> Path:
    """``--model`` / ``model:``: a shipped bundle's name, or a path (a ``.tflite``, its
    ``.json`` or a bundle folder). A shipped name wins over a file of that name in the
    working directory (write ``./accurate`` for that one)."""
    if model is None:
        return DEFAULT_MODEL
    text = str(model)
    if text in SHIPPED_MODELS:
        return MODELS_DIR / text / "model.tflite"
    path = Path(text)
    if not path.exists() and path.name == text and not path.suffix:
        raise ModelError(f"model {text!r}: no shipped model of that name and no such file; "
                         f"shipped: {', '.join(SHIPPED_MODELS)}, or give the path of a .tflite")
    return path

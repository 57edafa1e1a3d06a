"""genred.daemon: the command line, replay/evaluate, capture and MQTT publishing."""

from importlib import metadata as _metadata
from pathlib import Path

try:
    __version__ = _metadata.version("genred")
except _metadata.PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

# The shipped model bundle: model.tflite with model.json and its report beside it.
DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "default" / "model.tflite"

"""genred.daemon: the command line, replay/evaluate, capture and MQTT publishing."""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("genred")
except _metadata.PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

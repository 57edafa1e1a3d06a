"""The model bundle: a ``.tflite`` file and the ``.json`` metadata beside it.

The metadata schema lives here because training writes it and the device reads it.
Loading the TFLite tensors and checking them against this metadata is
`genred.dsp.classifier`'s job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelError, one_line
from .params import LogMelParams, WindowParams
from .smoothing import SmootherParams

SCHEMA = "genred-model/1"
GTZAN_LABELS = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
MUSIC_DETECTOR_LABELS = ("no_music", "music")


@dataclass(frozen=True)
class TensorSpec:
    """Shape, dtype and affine quantisation of one model tensor (real = scale * (q - zero_point))."""

    shape: tuple[int, ...]
    dtype: str  # "int8" or "float32"
    scale: float = 0.0  # 0 for float tensors
    zero_point: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype, "scale": self.scale, "zero_point": self.zero_point}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> "TensorSpec":
        _require_keys(data, {"shape", "dtype", "scale", "zero_point"}, where)
        shape = data["shape"]
        # Not bool: True == 1 would pass the comparison with the tensor, then fail np.zeros.
        if not (isinstance(shape, list) and shape and all(type(d) is int and d > 0 for d in shape)):
            raise ValueError(f"{where}.shape must be a list of positive integers, not {shape!r}")
        if data["dtype"] not in ("int8", "float32"):
            raise ValueError(f"{where}.dtype must be 'int8' or 'float32', not {data['dtype']!r}")
        scale, zp = data["scale"], data["zero_point"]
        if not isinstance(scale, (int, float)) or not isinstance(zp, int) or isinstance(zp, bool):
            raise ValueError(f"{where}: scale must be a number and zero_point an integer")
        if data["dtype"] == "int8" and not scale > 0:
            raise ValueError(f"{where}.scale must be > 0 for an int8 tensor, not {scale}")
        return cls(tuple(shape), data["dtype"], float(scale), zp)


def _activation(data: dict[str, Any], where: str = "") -> tuple[str, float]:
    """``output_activation`` and ``temperature``, checked (the same rules for every model)."""
    activation = data.get("output_activation", "softmax")
    if activation not in ("softmax", "logits"):
        raise ValueError(f"{where}output_activation must be 'softmax' or 'logits', not {activation!r}")
    temperature = data.get("temperature", 1.0)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"{where}temperature must be > 0, not {temperature!r}")
    return activation, float(temperature)


@dataclass(frozen=True)
class MusicDetectorSpec:
    """The optional second model: P(music) of the same normalised window as the genre model."""

    file: str  # a plain file name, beside model.json
    input: TensorSpec
    output: TensorSpec
    labels: tuple[str, ...] = MUSIC_DETECTOR_LABELS
    output_activation: str = "softmax"
    temperature: float = 1.0
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "labels": list(self.labels),
            "input": self.input.to_dict(),
            "output": self.output.to_dict(),
            "output_activation": self.output_activation,
            "temperature": self.temperature,
            "metrics": dict(self.metrics),
        }

    @classmethod
    def from_dict(cls, data: Any) -> "MusicDetectorSpec":
        where = "music_detector"
        _require_keys(data, {"file", "labels", "input", "output"}, where, {"output_activation", "temperature", "metrics"})
        name = data["file"]
        # A plain name: the detector ships inside the bundle's folder, never elsewhere.
        if not (isinstance(name, str) and name and name == Path(name).name and name not in (".", "..")):
            raise ValueError(f"{where}.file must be a plain file name beside the metadata, not {name!r}")
        if data["labels"] != list(MUSIC_DETECTOR_LABELS):
            raise ValueError(f"{where}.labels must be {list(MUSIC_DETECTOR_LABELS)}, not {data['labels']!r}")
        activation, temperature = _activation(data, f"{where}.")
        if not isinstance(data.get("metrics", {}), dict):
            raise ValueError(f"{where}.metrics must be an object")
        return cls(
            file=name,
            input=TensorSpec.from_dict(data["input"], f"{where}.input"),
            output=TensorSpec.from_dict(data["output"], f"{where}.output"),
            output_activation=activation,
            temperature=temperature,
            metrics=data.get("metrics", {}),
        )


@dataclass(frozen=True)
class ModelMetadata:
    """What a model needs from the front end and what it was measured to do."""

    name: str
    labels: tuple[str, ...]
    front_end: LogMelParams
    window: WindowParams
    default_hop_s: float
    input: TensorSpec
    output: TensorSpec
    output_activation: str = "softmax"  # "softmax": outputs are probabilities; "logits": softmax(x / temperature)
    temperature: float = 1.0
    smoothing: dict[str, Any] = field(default_factory=dict)  # SmootherParams measured on valid
    quantisation: str = ""
    training: dict[str, Any] = field(default_factory=dict)  # data, split, seed, epochs, augmentation
    metrics: dict[str, Any] = field(default_factory=dict)  # measured accuracies, by data set and float/int8
    created: str = ""
    genred_version: str = ""
    music_detector: MusicDetectorSpec | None = None  # None: no no_music state

    def to_dict(self) -> dict[str, Any]:
        d = {
            "schema": SCHEMA,
            "name": self.name,
            "labels": list(self.labels),
            "front_end": self.front_end.to_dict(),
            "window": self.window.to_dict(),
            "default_hop_s": self.default_hop_s,
            "input": self.input.to_dict(),
            "output": self.output.to_dict(),
            "output_activation": self.output_activation,
            "temperature": self.temperature,
            "smoothing": dict(self.smoothing),
            "quantisation": self.quantisation,
            "training": dict(self.training),
            "metrics": dict(self.metrics),
            "created": self.created,
            "genred_version": self.genred_version,
        }
        if self.music_detector is not None:
            d["music_detector"] = self.music_detector.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: Any) -> "ModelMetadata":
        """Validate and build; raises ValueError naming the first bad field."""
        required = {"schema", "name", "labels", "front_end", "window", "default_hop_s", "input", "output"}
        optional = {
            "output_activation", "temperature", "smoothing", "quantisation",
            "training", "metrics", "created", "genred_version", "music_detector",
        }
        _require_keys(data, required, "metadata", optional)
        if data["schema"] != SCHEMA:
            raise ValueError(f"schema is {data['schema']!r}; this genred reads {SCHEMA!r}")
        labels = data["labels"]
        if not (isinstance(labels, list) and len(labels) >= 2 and all(isinstance(x, str) and x for x in labels)):
            raise ValueError("labels must be a list of at least two non-empty strings")
        if len(set(labels)) != len(labels):
            raise ValueError("labels must be unique")
        hop = data["default_hop_s"]
        if not isinstance(hop, (int, float)) or not 0 < hop <= 60:
            raise ValueError(f"default_hop_s must be a number in (0, 60], not {hop!r}")
        activation, temperature = _activation(data)
        for key in ("smoothing", "training", "metrics"):
            if not isinstance(data.get(key, {}), dict):
                raise ValueError(f"{key} must be an object")
        if data.get("smoothing"):
            # Checked here, not first when a Pipeline is built from it: a bad value
            # must be a ModelError naming the file, not a crash at start.
            SmootherParams.from_dict(data["smoothing"])
        meta = cls(
            name=str(data["name"]),
            labels=tuple(labels),
            front_end=LogMelParams.from_dict(data["front_end"]),
            window=WindowParams.from_dict(data["window"]),
            default_hop_s=float(hop),
            input=TensorSpec.from_dict(data["input"], "input"),
            output=TensorSpec.from_dict(data["output"], "output"),
            output_activation=activation,
            temperature=temperature,
            smoothing=data.get("smoothing", {}),
            quantisation=str(data.get("quantisation", "")),
            training=data.get("training", {}),
            metrics=data.get("metrics", {}),
            created=str(data.get("created", "")),
            genred_version=str(data.get("genred_version", "")),
            music_detector=None if data.get("music_detector") is None else MusicDetectorSpec.from_dict(data["music_detector"]),
        )
        meta.check_shapes()
        return meta

    def check_shapes(self) -> None:
        """The tensors described must fit the front end and the labels."""
        expected_in = (1, self.window.window_frames, self.front_end.n_mels, 1)
        if self.input.shape != expected_in:
            raise ValueError(
                f"input.shape {list(self.input.shape)} does not fit the front end "
                f"(window_frames={self.window.window_frames}, n_mels={self.front_end.n_mels}): "
                f"expected {list(expected_in)}"
            )
        if self.output.shape != (1, len(self.labels)):
            raise ValueError(f"output.shape {list(self.output.shape)} does not fit {len(self.labels)} labels")
        det = self.music_detector
        if det is not None:
            # The detector hears the very window the genre model hears.
            if det.input.shape != expected_in:
                raise ValueError(
                    f"music_detector.input.shape {list(det.input.shape)} does not fit the front end: "
                    f"expected {list(expected_in)}"
                )
            if det.output.shape != (1, len(det.labels)):
                raise ValueError(f"music_detector.output.shape {list(det.output.shape)} must be [1, {len(det.labels)}]")


@dataclass(frozen=True)
class ModelBundle:
    tflite_path: Path
    metadata_path: Path
    metadata: ModelMetadata

    @property
    def music_detector_path(self) -> Path | None:
        det = self.metadata.music_detector
        return None if det is None else self.metadata_path.parent / det.file


def bundle_paths(path: str | Path) -> tuple[Path, Path]:
    """(tflite, json) for a ``.tflite``, a ``.json`` or a folder holding ``model.tflite``."""
    p = Path(path)
    if p.is_dir():
        p = p / "model.tflite"
    if p.suffix == ".json":
        return p.with_suffix(".tflite"), p
    return p, p.with_suffix(".json")


def load_metadata(path: str | Path) -> ModelBundle:
    """Read and validate a bundle's metadata; the TFLite file is only checked to exist."""
    tflite, meta_path = bundle_paths(path)
    if not tflite.is_file():
        raise ModelError(f"model {tflite}: no such file (give --model a .tflite with its .json beside it)")
    if not meta_path.is_file():
        raise ModelError(f"model {tflite}: its metadata {meta_path.name} is missing beside it")
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError: JSONDecodeError, or an integer of more than 4300 digits;
        # RecursionError: arrays or objects nested thousands deep.
        raise ModelError(f"model metadata {meta_path}: not readable JSON ({one_line(exc)})") from None
    try:
        meta = ModelMetadata.from_dict(data)
    except ValueError as exc:
        raise ModelError(f"model metadata {meta_path}: {one_line(exc)}") from None
    bundle = ModelBundle(tflite, meta_path, meta)
    detector = bundle.music_detector_path
    if detector is not None and not detector.is_file():
        raise ModelError(
            f"music detector {detector}: no such file (model metadata {meta_path.name} names it in music_detector.file)"
        )
    return bundle


def write_metadata(meta: ModelMetadata, path: str | Path) -> Path:
    _, meta_path = bundle_paths(path)
    meta_path.write_text(json.dumps(meta.to_dict(), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return meta_path


def _require_keys(data: Any, required: set[str], where: str, optional: set[str] = frozenset()) -> None:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
    unknown = sorted(set(data) - required - set(optional))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")
    missing = sorted(required - set(data))
    if missing:
        raise ValueError(f"{where}: missing key(s) {', '.join(missing)}")

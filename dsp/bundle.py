"""The model bundle: a ``.tflite`` file and the ``.json`` metadata beside it.

The metadata schema lives here because training writes it and the device reads it.
Loading the TFLite tensors and checking them against this metadata is
`genred.dsp.classifier`'s job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from msgspec import Meta

from .errors import ModelError, one_line
from .params import LogMelParams, WindowParams
from .schema import Schema, to_plain
from .schema_errors import decode, require_every_key
from .smoother_params import SmootherParams

SCHEMA = "genred-model/1"
GTZAN_LABELS = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
MUSIC_DETECTOR_LABELS = ("no_music", "music")

Activation = Annotated[
    Literal["softmax", "logits"],
    Meta(description='"softmax": outputs are probabilities; "logits": softmax(x / temperature)'),
]
Temperature = Annotated[float, Meta(gt=0)]
# A plain name: the detector ships inside the bundle's folder, never elsewhere.
PlainFileName = Annotated[str, Meta(pattern=r"\A(?!\.\.?\Z)[^/]+\Z", extra={"must_be": "a plain file name beside the metadata"})]


class TensorSpec(Schema, frozen=True, forbid_unknown_fields=True):
    """Shape, dtype and affine quantisation of one model tensor (real = scale * (q - zero_point))."""

    shape: Annotated[tuple[Annotated[int, Meta(gt=0)], ...], Meta(min_length=1, extra={"must_be": "a list of positive integers"})]
    dtype: Literal["int8", "float32"]
    scale: Annotated[float, Meta(description="0 for float tensors")]
    zero_point: int

    def __post_init__(self) -> None:
        if self.dtype == "int8" and not self.scale > 0:
            raise ValueError(f"scale must be > 0 for an int8 tensor, not {self.scale}")

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)


class MusicDetectorSpec(Schema, frozen=True, forbid_unknown_fields=True):
    """The optional second model: P(music) of the same normalised window as the genre model."""

    file: PlainFileName
    labels: Annotated[tuple[str, ...], Meta(extra={"must_be": str(list(MUSIC_DETECTOR_LABELS))})]
    input: TensorSpec
    output: TensorSpec
    output_activation: Activation = "softmax"
    temperature: Temperature = 1.0
    metrics: dict[str, Any] = {}

    def __post_init__(self) -> None:
        if self.labels != MUSIC_DETECTOR_LABELS:
            raise ValueError(f"labels must be {list(MUSIC_DETECTOR_LABELS)}, not {list(self.labels)!r}")

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)


class ModelMetadata(Schema, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What a model needs from the front end and what it was measured to do (model.json)."""

    schema: Annotated[str, Meta(description="this genred reads " + SCHEMA)] = SCHEMA
    name: str
    labels: Annotated[tuple[Annotated[str, Meta(min_length=1)], ...],
                      Meta(min_length=2, extra={"must_be": "a list of at least two non-empty strings"})]
    front_end: LogMelParams
    window: WindowParams
    default_hop_s: Annotated[float, Meta(gt=0, le=60)]
    input: TensorSpec
    output: TensorSpec
    output_activation: Activation = "softmax"
    temperature: Temperature = 1.0
    smoothing: Annotated[dict[str, Any], Meta(description="SmootherParams measured on valid")] = {}
    quantisation: str = ""
    training: Annotated[dict[str, Any], Meta(description="data, split, seed, epochs, augmentation")] = {}
    metrics: Annotated[dict[str, Any], Meta(description="measured accuracies, by data set and float/int8")] = {}
    created: str = ""
    genred_version: str = ""
    music_detector: Annotated[MusicDetectorSpec | None, Meta(description="None: no no_music state")] = None

    def __post_init__(self) -> None:
        if self.schema != SCHEMA:
            raise ValueError(f"schema is {self.schema!r}; this genred reads {SCHEMA!r}")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be unique")
        if self.smoothing:
            # Checked here, not first when a Pipeline is built from it: a bad value
            # must be a ModelError naming the file, not a crash at start.
            SmootherParams.from_dict(self.smoothing)
        self.check_shapes()

    def to_dict(self) -> dict[str, Any]:
        d = to_plain(self)
        if self.music_detector is None:
            del d["music_detector"]  # what older genreds wrote, and read
        else:
            d["music_detector"] = self.music_detector.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: Any) -> ModelMetadata:
        """Validate and build; raises ValueError naming the first bad field."""
        if isinstance(data, dict) and "schema" not in data:
            raise ValueError("metadata: missing key(s) schema")
        meta: ModelMetadata = decode(data, cls, "metadata")
        require_every_key(data["front_end"], LogMelParams, "front_end")
        require_every_key(data["window"], WindowParams, "window")
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


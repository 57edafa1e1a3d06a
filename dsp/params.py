"""Front-end parameters shared by the device and by training.

Everything that decides what a model sees lives here, so that a model bundle can
record it and the daemon can refuse a model whose front end differs from its own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LogMelParams:
    """STFT -> mel -> log. Frames are not centred: frame ``i`` covers samples
    ``[i * hop_length, i * hop_length + n_fft)``, so a stream needs no look-ahead.

    The defaults follow MusiCNN's front end (16 kHz, n_fft 512, hop 256, 96 Slaney
    mel bands) so that pretrained MSD/MTAT checkpoints can teach our models.
    """

    sample_rate_hz: int = 16000
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 96
    fmin_hz: float = 0.0
    fmax_hz: float = 8000.0
    window: str = "hann"  # periodic Hann, as librosa/scipy use for spectra
    mel_scale: str = "slaney"  # "slaney" or "htk"
    mel_norm: str | None = "slaney"  # "slaney" (area-normalised filters) or None
    power: float = 2.0
    log: str = "db"  # 10 * log10(max(mel, amin)); the only kind so far
    amin: float = 1e-10  # floor of the mel power before the log

    def __post_init__(self) -> None:
        if not 8000 <= self.sample_rate_hz <= 96000:
            raise ValueError(f"sample_rate_hz must be 8000..96000, not {self.sample_rate_hz}")
        if self.n_fft < 16 or self.n_fft & (self.n_fft - 1):
            raise ValueError(f"n_fft must be a power of two >= 16, not {self.n_fft}")
        if not 0 < self.hop_length <= self.n_fft:
            raise ValueError(f"hop_length must be 1..n_fft, not {self.hop_length}")
        if self.n_mels < 1:
            raise ValueError(f"n_mels must be >= 1, not {self.n_mels}")
        if not 0 <= self.fmin_hz < self.fmax_hz <= self.sample_rate_hz / 2:
            raise ValueError("need 0 <= fmin_hz < fmax_hz <= sample_rate_hz / 2")
        if self.window != "hann":
            raise ValueError(f"window must be 'hann', not {self.window!r}")
        if self.mel_scale not in ("slaney", "htk"):
            raise ValueError(f"mel_scale must be 'slaney' or 'htk', not {self.mel_scale!r}")
        if self.mel_norm not in ("slaney", None):
            raise ValueError(f"mel_norm must be 'slaney' or null, not {self.mel_norm!r}")
        if self.power not in (1.0, 2.0):
            raise ValueError(f"power must be 1.0 or 2.0, not {self.power}")
        if self.log != "db":
            raise ValueError(f"log must be 'db', not {self.log!r}")
        if not self.amin > 0:
            raise ValueError(f"amin must be > 0, not {self.amin}")

    @property
    def frame_rate_hz(self) -> float:
        return self.sample_rate_hz / self.hop_length

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LogMelParams":
        return _from_dict(cls, data, "front_end")


@dataclass(frozen=True)
class WindowParams:
    """How log-mel frames are cut into the model's input windows, and how each
    window is normalised before the model sees it.

    ``normalisation == "window_level"``: the window's level (mean mel power, in dB) is
    subtracted from every bin, then bins are floored at ``floor_db``. A gain applied to
    the audio is a constant in dB, so this equals normalising the audio level of each
    window before the mel, and the model cannot learn loudness as genre (GTZAN's
    excerpts are ~7 dB louder than its full clips).
    """

    window_frames: int = 187  # 187 * 256 / 16 kHz ~ 3 s, MusiCNN's patch
    hop_frames: int = 62  # ~1 s at 16 kHz / 256
    normalisation: str = "window_level"
    floor_db: float = -80.0  # relative to the window level, after normalisation
    # Short clips: the frames are repeated (tiled) until they fill one window.
    pad: str = "wrap"

    def __post_init__(self) -> None:
        if self.window_frames < 1:
            raise ValueError(f"window_frames must be >= 1, not {self.window_frames}")
        if not 1 <= self.hop_frames:
            raise ValueError(f"hop_frames must be >= 1, not {self.hop_frames}")
        if self.normalisation != "window_level":
            raise ValueError(f"normalisation must be 'window_level', not {self.normalisation!r}")
        if not self.floor_db < 0:
            raise ValueError(f"floor_db must be < 0, not {self.floor_db}")
        if self.pad != "wrap":
            raise ValueError(f"pad must be 'wrap', not {self.pad!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "WindowParams":
        return _from_dict(cls, data, "window")


def hop_frames_for(hop_s: float, front_end: LogMelParams) -> int:
    """The whole number of frames nearest to ``hop_s`` seconds (at least one)."""
    if not hop_s > 0:
        raise ValueError(f"hop must be > 0 s, not {hop_s}")
    return max(1, round(hop_s * front_end.frame_rate_hz))


def _from_dict(cls: type, data: dict[str, Any], where: str) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")
    missing = sorted(names - set(data))
    if missing:
        raise ValueError(f"{where}: missing key(s) {', '.join(missing)}")
    try:
        return cls(**data)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None

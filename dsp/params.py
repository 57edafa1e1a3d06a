"""Front-end parameters shared by the device and by training.

Everything that decides what a model sees lives here, so that a model bundle can
record it and the daemon can refuse a model whose front end differs from its own.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta

from .schema import Params, to_plain
from .schema_errors import decode, require_every_key


class LogMelParams(Params, frozen=True, forbid_unknown_fields=True):
    """STFT -> mel -> log. Frames are not centred: frame ``i`` covers samples
    ``[i * hop_length, i * hop_length + n_fft)``, so a stream needs no look-ahead.

    The defaults follow MusiCNN's front end (16 kHz, n_fft 512, hop 256, 96 Slaney
    mel bands) so that pretrained MSD/MTAT checkpoints can teach our models.
    """

    sample_rate_hz: Annotated[int, Meta(ge=8000, le=96000)] = 16000
    n_fft: Annotated[int, Meta(ge=16, description="a power of two")] = 512
    hop_length: Annotated[int, Meta(ge=1, description="at most n_fft")] = 256
    n_mels: Annotated[int, Meta(ge=1)] = 96
    fmin_hz: Annotated[float, Meta(ge=0)] = 0.0
    fmax_hz: Annotated[float, Meta(gt=0, description="at most sample_rate_hz / 2")] = 8000.0
    window: Annotated[Literal["hann"], Meta(description="periodic Hann, as librosa/scipy use for spectra")] = "hann"
    mel_scale: Literal["slaney", "htk"] = "slaney"
    mel_norm: Annotated[Literal["slaney"] | None, Meta(description='"slaney": area-normalised filters')] = "slaney"
    power: Annotated[float, Meta(ge=1, le=2, description="1.0 or 2.0")] = 2.0
    log: Annotated[Literal["db"], Meta(description="10 * log10(max(mel, amin)); the only kind so far")] = "db"
    amin: Annotated[float, Meta(gt=0, description="floor of the mel power before the log")] = 1e-10

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_fft & (self.n_fft - 1):
            raise ValueError(f"n_fft must be a power of two >= 16, not {self.n_fft}")
        if not self.hop_length <= self.n_fft:
            raise ValueError(f"hop_length must be 1..n_fft, not {self.hop_length}")
        if not self.fmin_hz < self.fmax_hz <= self.sample_rate_hz / 2:
            raise ValueError("need 0 <= fmin_hz < fmax_hz <= sample_rate_hz / 2")
        if self.power not in (1.0, 2.0):
            raise ValueError(f"power must be 1.0 or 2.0, not {self.power}")

    @property
    def frame_rate_hz(self) -> float:
        return self.sample_rate_hz / self.hop_length

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: Any) -> LogMelParams:
        """Every key must be given: a model's front end is never this version's default."""
        params: LogMelParams = decode(data, cls, "front_end")
        require_every_key(data, cls, "front_end")
        return params


class WindowParams(Params, frozen=True, forbid_unknown_fields=True):
    """How log-mel frames are cut into the model's input windows, and how each
    window is normalised before the model sees it.

    ``normalisation == "window_level"``: the window's level (mean mel power, in dB) is
    subtracted from every bin, then bins are floored at ``floor_db``. A gain applied to
    the audio is a constant in dB, so this equals normalising the audio level of each
    window before the mel, and the model cannot learn loudness as genre (GTZAN's
    excerpts are ~7 dB louder than its full clips).
    """

    window_frames: Annotated[int, Meta(ge=1, description="187 * 256 / 16 kHz ~ 3 s, MusiCNN's patch")] = 187
    hop_frames: Annotated[int, Meta(ge=1, description="~1 s at 16 kHz / 256")] = 62
    normalisation: Literal["window_level"] = "window_level"
    floor_db: Annotated[float, Meta(lt=0, description="relative to the window level, after normalisation")] = -80.0
    # Short clips: the frames are repeated (tiled) until they fill one window.
    pad: Literal["wrap"] = "wrap"

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: Any) -> WindowParams:
        params: WindowParams = decode(data, cls, "window")
        require_every_key(data, cls, "window")
        return params


def hop_frames_for(hop_s: float, front_end: LogMelParams) -> int:
    """The whole number of frames nearest to ``hop_s`` seconds (at least one)."""
    if not hop_s > 0:
        raise ValueError(f"hop must be > 0 s, not {hop_s}")
    return max(1, round(hop_s * front_end.frame_rate_hz))

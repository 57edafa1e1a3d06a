"""Reading audio files into float32 blocks, with one-line errors for bad files."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .errors import AudioError, one_line

# Far beyond any real recording (float files may exceed 1.0 a little), yet small
# enough that the float32 power spectrum cannot overflow to inf (and the level to NaN).
MAX_ABS_SAMPLE = 1e6


@dataclass(frozen=True)
class AudioInfo:
    path: Path
    sample_rate_hz: int
    channels: int
    frames: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate_hz


def readable_formats() -> str:
    """What this libsndfile reads, in its own words (MP3 since 1.1; RAW needs parameters)."""
    names = sorted(set(sf.available_formats()) - {"RAW"})
    return f"libsndfile {sf.__libsndfile_version__} reads {', '.join(names)}"


def audio_info(path: str | Path) -> AudioInfo:
    p = Path(path)
    if p.is_dir():
        raise AudioError(f"audio {p}: is a directory, not an audio file")
    if not p.is_file():
        raise AudioError(f"audio {p}: no such file")
    try:
        info = sf.info(str(p))
    except Exception as exc:  # libsndfile reports every unreadable file this way
        # Its message repeats the path ("Error opening '...': Format not recognised.").
        reason = one_line(exc).rsplit(": ", 1)[-1].rstrip(".")
        raise AudioError(f"audio {p}: not a readable audio file ({reason}); {readable_formats()}") from None
    if info.frames <= 0:
        raise AudioError(f"audio {p}: holds no samples")
    if not 8000 <= info.samplerate <= 192000:
        raise AudioError(f"audio {p}: sample rate {info.samplerate} Hz is outside 8000..192000 Hz")
    return AudioInfo(p, int(info.samplerate), int(info.channels), int(info.frames))


def iter_blocks(path: str | Path, block_frames: int = 16384) -> Iterator[np.ndarray]:
    """Yield (n, channels) float32 blocks; NaN, inf or absurdly large samples raise AudioError."""
    info = audio_info(path)
    done = 0
    try:
        with sf.SoundFile(str(info.path)) as f:
            for block in f.blocks(blocksize=block_frames, dtype="float32", always_2d=True):
                ok = np.abs(block) <= MAX_ABS_SAMPLE  # False for NaN too
                if not ok.all():
                    bad = done + int(np.argmin(ok.all(axis=1)))
                    what = "non-finite sample (NaN or inf)" if not np.isfinite(block[bad - done]).all() else (
                        f"sample beyond +-{MAX_ABS_SAMPLE:g} (full scale is 1.0)"
                    )
                    raise AudioError(f"audio {info.path}: {what} at {bad / info.sample_rate_hz:.3f} s")
                done += block.shape[0]
                yield block
    except AudioError:
        raise
    except Exception as exc:
        raise AudioError(f"audio {info.path}: read failed after {done} frames ({one_line(exc)})") from None


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """The whole file as (n, channels) float32, and its rate in Hz."""
    info = audio_info(path)
    blocks = list(iter_blocks(path, block_frames=1 << 18))
    return np.concatenate(blocks, axis=0), info.sample_rate_hz

"""Cutting log-mel frames into model windows, and normalising each window's level.

Training cuts its windows with `cut_windows`; the device with `StreamingWindower`.
Both share the same rules (tested equal), including the padding of short clips.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .melspec import reference_power_db
from .params import LogMelParams, WindowParams


@dataclass(frozen=True)
class Window:
    """One model window of log-mel frames (dB), not yet normalised.

    ``start_frame`` counts frames from the start of the stream; ``padded`` is true
    for the single window made from a clip shorter than a window.
    """

    start_frame: int
    frames: np.ndarray  # (window_frames, n_mels) float32, dB
    padded: bool = False


def pad_frames(frames: np.ndarray, window_frames: int) -> np.ndarray:
    """Fill one window from a shorter run of frames by repeating them (``pad="wrap"``).

    Repeating the music keeps the window's statistics those of the clip; zeros
    would teach the model that silence belongs to short clips.
    """
    if frames.shape[0] == 0:
        raise ValueError("no frames to pad: the audio is shorter than one STFT frame")
    reps = -(-window_frames // frames.shape[0])
    return np.tile(frames, (reps, 1))[:window_frames]


def cut_windows(frames: np.ndarray, window: WindowParams, hop_frames: int | None = None) -> list[Window]:
    """All windows of a clip's frames at ``hop_frames`` (default: window.hop_frames).

    A clip shorter than one window gives one padded window; a clip with no frame
    gives none.
    """
    hop = window.hop_frames if hop_frames is None else hop_frames
    n = frames.shape[0]
    if n == 0:
        return []
    if n < window.window_frames:
        return [Window(0, pad_frames(frames, window.window_frames), padded=True)]
    return [
        Window(start, frames[start : start + window.window_frames])
        for start in range(0, n - window.window_frames + 1, hop)
    ]


class StreamingWindower:
    """Collects frames as they arrive and emits a window every ``hop_frames``.

    Keeps only the last ``window_frames`` frames in a preallocated buffer. `flush()`
    emits the padded window of a stream that ended before its first window.
    """

    def __init__(self, window: WindowParams, n_mels: int, hop_frames: int | None = None) -> None:
        self.window = window
        self.hop_frames = window.hop_frames if hop_frames is None else hop_frames
        if self.hop_frames < 1:
            raise ValueError(f"hop_frames must be >= 1, not {self.hop_frames}")
        self._buf = np.zeros((window.window_frames, n_mels), dtype=np.float32)
        self.reset()

    def reset(self) -> None:
        self._filled = 0  # frames in _buf (< window_frames only before the first window)
        self._seen = 0  # frames received since reset
        self._next_start = 0  # start frame of the next window to emit
        self._emitted = 0

    def process(self, frames: np.ndarray) -> list[Window]:
        out: list[Window] = []
        wf = self.window.window_frames
        for frame_block in _split(frames, wf):
            n = frame_block.shape[0]
            # Emit every window whose last frame lies in this block, in order.
            while True:
                end = self._next_start + wf  # exclusive end of the next window
                if end > self._seen + n:
                    break
                take = end - self._seen
                self._push(frame_block[:take])
                frame_block = frame_block[take:]
                self._seen += take
                n -= take
                out.append(Window(self._next_start, self._buf.copy()))
                self._emitted += 1
                self._next_start += self.hop_frames
            self._push(frame_block)
            self._seen += n
        return out

    @property
    def frames_for_next_window(self) -> int:
        """Frames since reset the next window needs: it is emitted by the call that brings them."""
        return self._next_start + self.window.window_frames

    def flush(self) -> list[Window]:
        """End of stream: a stream shorter than one window gives one padded window."""
        out: list[Window] = []
        if self._emitted == 0 and self._filled > 0:
            frames = self._buf[: self._filled]
            out.append(Window(0, pad_frames(frames, self.window.window_frames), padded=True))
        self.reset()
        return out

    def _push(self, frames: np.ndarray) -> None:
        n = frames.shape[0]
        if n == 0:
            return
        wf = self.window.window_frames
        if self._filled + n <= wf:
            self._buf[self._filled : self._filled + n] = frames
            self._filled += n
        else:
            keep = wf - n
            self._buf[:keep] = self._buf[self._filled - keep : self._filled]
            self._buf[keep:] = frames
            self._filled = wf


def _split(frames: np.ndarray, size: int) -> Iterator[np.ndarray]:
    # Blocks no longer than one window keep _push's buffer arithmetic simple.
    for i in range(0, frames.shape[0], size):
        yield frames[i : i + size]


def window_levels_db(windows_db: np.ndarray, front_end: LogMelParams) -> np.ndarray:
    """Level of each window of ``(..., frames, mels)`` log-mel dB: mean mel power in dB
    re a full-scale 1 kHz sine. One window or a training batch: the same arithmetic."""
    # exp, not power(10, x / 10): the same powers at a third of the cost, paid every hop.
    power = np.mean(np.exp(np.asarray(windows_db).astype(np.float64) * (np.log(10.0) / 10.0)), axis=(-2, -1))
    # np.asarray: one window's mean is a numpy scalar; the levels are an array either way.
    return np.asarray(10.0 * np.log10(np.maximum(power, front_end.amin)) - reference_power_db(front_end))


def window_level_db(window_db: np.ndarray, front_end: LogMelParams) -> float:
    """Level of one ``(frames, mels)`` window (`window_levels_db`)."""
    return float(window_levels_db(window_db, front_end))


def normalise_window(
    window_db: np.ndarray, level_db: float | np.ndarray, front_end: LogMelParams, window: WindowParams
) -> np.ndarray:
    """The model's input: the window relative to its own level, floored at ``floor_db``.
    A batch ``(..., frames, mels)`` takes its levels ``(...)``."""
    offset = (np.asarray(level_db, dtype=np.float64) + reference_power_db(front_end)).astype(np.float32)
    return np.maximum(window_db - offset[..., None, None], np.float32(window.floor_db)).astype(np.float32)

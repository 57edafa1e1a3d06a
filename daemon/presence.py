"""Whether capture is delivering audio, for the state "no_audio".

A plain object fed by the worker: `heard` for each block, `silent` when a read came
back empty. An outage begins when the capture says its device is not open (lost,
retrying) or when nothing has come for ``after_s``; it ends with the next block.
"""

from __future__ import annotations

NO_AUDIO = "no_audio"  # the state's status while capture delivers nothing
_DEVICE_GONE = ("lost", "retrying")  # capture states that mean no audio can come now


class AudioPresence:
    def __init__(self, after_s: float, now_s: float) -> None:
        self.after_s = after_s
        self.outage = False
        self._last_audio_s = now_s  # the start counts as audio: give the device after_s to open

    def heard(self, now_s: float) -> bool:
        """A block arrived; True if it ends an outage."""
        self._last_audio_s = now_s
        ended, self.outage = self.outage, False
        return ended

    def silent(self, now_s: float, capture_state: str) -> bool:
        """A read gave nothing; True if an outage begins now (once per outage)."""
        if self.outage:
            return False
        if capture_state in _DEVICE_GONE or now_s - self._last_audio_s >= self.after_s:
            self.outage = True
            return True
        return False

"""One hour of synthetic audio through the daemon as fast as it goes, in a fresh interpreter.

Run by tests/test_reliability.py as ``python tests/soak.py MODEL``; prints one JSON object of
what the test asserts on. A process of its own because RSS is a process's figure: inside the
suite it also counts every other test's TensorFlow, threads and allocator arenas (3.6 GB there,
with 6 MB steps that had nothing to do with the daemon).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
import threading
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fakes import SyntheticSource  # noqa: E402

SOAK_S = 3600.0
SOAK_RATE = 44100  # a common USB microphone rate: the resampler runs too
WARM_UP_S = 300.0


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


class _CountingSink(io.TextIOBase):
    def __init__(self) -> None:
        self.lines = 0

    def write(self, s: str) -> int:
        self.lines += s.count("\n")
        return len(s)


def run_soak(model_path: str) -> dict:
    from genred.daemon.clock import Clock
    from genred.daemon.service import Daemon
    from genred.daemon.settings import AudioSettings, MqttSettings, Settings, SmoothingSettings
    from genred.daemon.systemd import Notifier

    holder: dict[str, object] = {}
    noon = dt.datetime(2025, 1, 1, 12).timestamp()  # local noon: an hour of DST either way stays that day

    def wall() -> float:
        """A day passes every 2 minutes of audio: the listening mix sees 30 days."""
        src = holder.get("source")
        days = int(src.delivered / SOAK_RATE // 120) if src is not None else 0
        return noon + days * 86400.0

    clock = Clock(wall=wall)
    samples: list[list[float]] = []  # audio s, RSS KiB, mix days, inference deque length

    def checkpoint(at: float):
        def take():
            d = holder["daemon"]
            samples.append([float(at), _rss_kib(), len(d.mix._seconds), len(d._inference_ms)])
        return take

    checkpoints = {t: checkpoint(t) for t in np.arange(WARM_UP_S, SOAK_S + 1, 300.0)}
    source = SyntheticSource(SOAK_S, SOAK_RATE, checkpoints)
    holder["source"] = source
    # The detector runs on every window, but its gate is opened wide: the shipped detector
    # calls most of these synthetic chords no music, and the listening mix's 7-day bound is
    # only tested if a genre is named every day.
    settings = Settings(device_id="soak", model=model_path, audio=AudioSettings(source="default", block_s=0.1),
                        mqtt=MqttSettings(enabled=False), smoothing=SmoothingSettings(music_on=0.0, music_off=0.0))
    out = _CountingSink()
    daemon = Daemon(settings, source_factory=lambda a: source, notifier=Notifier({}), out=out, clock=clock)
    holder["daemon"] = daemon
    rc = daemon.run(threading.Event())
    rss_end = _rss_kib()

    status = daemon.status()
    snapshot = daemon.mix.snapshot(clock.today())
    pipeline = daemon.pipeline
    return {
        "rc": rc,
        "checkpoints": len(checkpoints),
        "samples": samples,
        "rss_end_kib": rss_end,
        "out_lines": out.lines,
        "status": json.loads(status.to_json()),
        "status_json_chars": len(status.to_json()),
        "labels": len(daemon.labels),
        "mix_days": daemon.mix.days,
        "mix_per_day_genres": [len(v) for v in daemon.mix._seconds.values()],
        "inference_maxlen": daemon._inference_ms.maxlen,
        "inference_len": len(daemon._inference_ms),
        "snapshot_keys": sorted(json.loads(snapshot.to_json())),
        "snapshot_share": len(snapshot.recent.share),
        "snapshot_music_s": snapshot.recent.music_s,
        "input_rate_hz": None if pipeline is None else pipeline.input_rate_hz,
        "resampler_arrays": {} if pipeline is None else {
            name: int(v.size) for name, v in vars(pipeline._resampler).items() if isinstance(v, np.ndarray)},
    }


if __name__ == "__main__":
    print(json.dumps(run_soak(sys.argv[1])))

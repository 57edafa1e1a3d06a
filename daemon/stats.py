"""The listening mix: share of listening time per genre, today and over 7 days.

Kept in memory only: a Pi's SD card should see no writes in steady state, and a
restart losing today's mix is a fair price for that.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from .mqtt.payloads import MixShare, StatsPayload


class ListeningMix:
    def __init__(self, labels: tuple[str, ...], days: int = 7) -> None:
        self.labels = labels
        self.days = days
        self._seconds: dict[dt.date, dict[str, float]] = defaultdict(lambda: defaultdict(float))

    def add(self, genre: str | None, seconds: float, day: dt.date) -> None:
        """Count ``seconds`` of music of ``genre`` (None: not music, not counted)."""
        if genre is None or seconds <= 0:
            return
        self._seconds[day][genre] += seconds
        for old in [d for d in self._seconds if (day - d).days >= self.days]:
            del self._seconds[old]

    def snapshot(self, today: dt.date) -> StatsPayload:
        week: dict[str, float] = defaultdict(float)
        for day, per_genre in self._seconds.items():
            if 0 <= (today - day).days < self.days:
                for genre, s in per_genre.items():
                    week[genre] += s
        return StatsPayload(
            today=_shares(self._seconds.get(today, {}), self.labels),
            recent=_shares(week, self.labels),
            days=self.days,
            date=today.isoformat(),
        )


def _shares(seconds: dict[str, float], labels: tuple[str, ...]) -> MixShare:
    total = sum(seconds.values())
    return MixShare(
        music_s=round(total, 1),
        share={g: round(seconds.get(g, 0.0) / total, 4) if total else 0.0 for g in labels},
    )

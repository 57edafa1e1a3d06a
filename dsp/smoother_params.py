"""The smoother's parameters, declared once: each one's type and range (the daemon's
config declares its overrides with the same types), the one rule between two of them,
and `SmootherParams`, which a model.json's ``smoothing`` section decodes into. What
each parameter does is said by `genred.dsp.smoothing`'s docstring.
"""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import Meta

from .schema import FLOAT_MAX, Params, to_plain
from .schema_errors import decode

# tau_s > 0: the smoother divides by it. A window's level is at most about 0 dBFS, so
# a silence threshold at or above 0 would silence everything. Every bound refuses NaN;
# FLOAT_MAX refuses inf where no other upper bound does.
TimeConstant = Annotated[float, Meta(gt=0, le=FLOAT_MAX)]
HoldTime = Annotated[float, Meta(ge=0, le=FLOAT_MAX)]
Margin = Annotated[float, Meta(ge=0, lt=1)]
Probability = Annotated[float, Meta(ge=0, le=1)]
SilenceLevel = Annotated[float, Meta(ge=-FLOAT_MAX, lt=0)]

# Music whose peak is -40 dBFS (the quietest the daemon must hear) has 99 % of its windows
# above -68 dB through the simulated rooms, and a microphone's own noise (-80 dBFS rms at
# worst there) sits near -81: the gate lies between. At -55 (until 2026-12) half of such
# music was "silence". Quiet sounds that are not music are the music detector's to say.
SILENCE_DB = -70.0


def music_thresholds_problem(music_on: float, music_off: float) -> str | None:
    """What is wrong with this pair (completing "music_off must be ..."), or None.
    The one copy of the rule: SmootherParams and the daemon's config both ask here."""
    if music_off > music_on:
        return f"<= music_on ({music_on:g}), not {music_off:g}"
    return None


class SmootherParams(Params, frozen=True, forbid_unknown_fields=True):
    """Parameters of `genred.dsp.smoothing.Smoother` (its module docstring says what each does)."""

    tau_s: Annotated[TimeConstant, Meta(description="time constant of the EMA of probabilities")] = 4.0
    switch_margin: Annotated[Margin, Meta(description="a challenger must lead the current genre by this ...")] = 0.10
    switch_hold_s: Annotated[HoldTime, Meta(description="... continuously for at least this long to take over")] = 3.0
    confidence_floor: Annotated[Probability, Meta(description='smoothed top probability below this: "uncertain"')] = 0.40
    silence_db: Annotated[SilenceLevel, Meta(description='window level (dB) below this: "silence"')] = SILENCE_DB
    music_tau_s: Annotated[TimeConstant, Meta(description="time constant of the EMA of the music probability")] = 3.0
    music_on: Annotated[Probability, Meta(description="smoothed P(music) >= this ...")] = 0.6
    music_off: Annotated[Probability, Meta(description="... or < this ...")] = 0.35
    music_hold_s: Annotated[HoldTime, Meta(description="... this long to turn music on ...")] = 2.0
    no_music_hold_s: Annotated[HoldTime, Meta(description="... or this long to turn it off")] = 8.0

    def __post_init__(self) -> None:
        super().__post_init__()
        problem = music_thresholds_problem(self.music_on, self.music_off)
        if problem is not None:
            raise ValueError(f"music_off must be {problem}")

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: Any) -> SmootherParams:
        """Build from a mapping. Missing keys take their defaults; unknown keys are a
        ValueError that names them (a typo must not silently fall back to a default).
        """
        params: SmootherParams = decode(data, cls, "smoothing")
        return params

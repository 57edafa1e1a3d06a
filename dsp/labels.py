"""Per-label values as JSON shows them: the probabilities of a window, a smoothed state
or a file, keyed by label (replay's lines, the MQTT state and probabilities topics)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PROBABILITY_DIGITS = 4  # what replay and MQTT print: 0.1 ‰ is finer than any threshold


def label_probabilities(
    labels: Sequence[str], probabilities: Sequence[float] | np.ndarray, digits: int | None = None
) -> dict[str, float]:
    """``{label: probability}`` in label order, rounded to ``digits`` (None: as they are)."""
    if len(labels) != len(probabilities):
        raise ValueError(f"got {len(labels)} labels for {len(probabilities)} probabilities")
    if digits is None:
        return {str(label): float(p) for label, p in zip(labels, probabilities, strict=True)}
    return {str(label): round(float(p), digits) for label, p in zip(labels, probabilities, strict=True)}

"""How big the small world's corpus, labelled sets and probe sets are at each course scale.

The sizes live in the scale presets (``course_utils.config``, section ``world``).

>>> world_sizes("smoke").train
200
"""

from __future__ import annotations

from course_utils.config import SCALE_NAMES, SCALES, WorldSizes

WORLD_SIZES: dict[str, WorldSizes] = {name: SCALES[name].world for name in SCALE_NAMES}


def world_sizes(scale: str | WorldSizes) -> WorldSizes:
    """The world sizes of scale ``scale``, or ``scale`` itself if it already is a ``WorldSizes``."""
    if isinstance(scale, WorldSizes):
        return scale
    if scale not in WORLD_SIZES:
        raise ValueError(f"unknown scale {scale!r}; allowed: {', '.join(SCALE_NAMES)} or a WorldSizes")
    return WORLD_SIZES[scale]

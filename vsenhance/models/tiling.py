"""Real-ESRGAN's tile arithmetic (``RealESRGANer.enhance``), as plain integers.

``s`` is the model scale, ``tile`` the core size, ``tile_pad`` the context, ``pre_pad`` the reflect padding.
Each output pixel comes from exactly one tile's core; tiles at the right/bottom are smaller, never padded.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

__all__ = ["Padding", "Tile", "padding", "tile_grid"]


@dataclass(frozen=True)
class Padding:
    """Reflect padding added at the right and bottom before inference, removed (× scale) after."""

    pre: int
    mod_h: int
    mod_w: int

    def padded_size(self, height: int, width: int) -> tuple[int, int]:
        return height + self.pre + self.mod_h, width + self.pre + self.mod_w


def padding(height: int, width: int, scale: int, pre_pad: int) -> Padding:
    """Pre-pad, then mod-pad to a multiple of 2 (scale 2) or 4 (scale 1), as the reference does."""
    mod = {2: 2, 1: 4}.get(scale, 1)
    h, w = height + pre_pad, width + pre_pad
    return Padding(pre_pad, (mod - h % mod) % mod, (mod - w % mod) % mod)


@dataclass(frozen=True)
class Tile:
    """One tile: the network input box, the core it owns, and where its core lies in the network output."""

    in_y0: int
    in_y1: int
    in_x0: int
    in_x1: int
    core_y0: int
    core_y1: int
    core_x0: int
    core_x1: int

    @property
    def in_shape(self) -> tuple[int, int]:
        return self.in_y1 - self.in_y0, self.in_x1 - self.in_x0

    def out_slices(self, scale: int) -> tuple[slice, slice]:
        """Rows/cols of the tile's network output that hold its core."""
        oy, ox = (self.core_y0 - self.in_y0) * scale, (self.core_x0 - self.in_x0) * scale
        return (
            slice(oy, oy + (self.core_y1 - self.core_y0) * scale),
            slice(ox, ox + (self.core_x1 - self.core_x0) * scale),
        )

    def dest_slices(self, scale: int) -> tuple[slice, slice]:
        """Rows/cols of the full output that the core fills."""
        return (
            slice(self.core_y0 * scale, self.core_y1 * scale),
            slice(self.core_x0 * scale, self.core_x1 * scale),
        )


def tile_grid(height: int, width: int, tile: int, tile_pad: int) -> list[Tile]:
    """Tiles covering a (padded) image of ``height`` × ``width``; one whole-image tile when ``tile`` is 0."""
    if tile <= 0:
        return [Tile(0, height, 0, width, 0, height, 0, width)]
    tiles = []
    for ty in range(ceil(height / tile)):
        y0, y1 = ty * tile, min((ty + 1) * tile, height)
        for tx in range(ceil(width / tile)):
            x0, x1 = tx * tile, min((tx + 1) * tile, width)
            tiles.append(
                Tile(
                    max(y0 - tile_pad, 0),
                    min(y1 + tile_pad, height),
                    max(x0 - tile_pad, 0),
                    min(x1 + tile_pad, width),
                    y0,
                    y1,
                    x0,
                    x1,
                )
            )
    return tiles

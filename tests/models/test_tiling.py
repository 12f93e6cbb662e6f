"""Real-ESRGAN's tile arithmetic against a transcription of the reference loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vsenhance.models.tiling import padding, tile_grid


def reference_tiles(height: int, width: int, tile: int, pad: int):
    """The boxes ``RealESRGANer.tile_process`` computes, written as the reference writes them."""
    out = []
    for y in range(math.ceil(height / tile)):
        for x in range(math.ceil(width / tile)):
            sx, ex = x * tile, min(x * tile + tile, width)
            sy, ey = y * tile, min(y * tile + tile, height)
            out.append(
                ((max(sy - pad, 0), min(ey + pad, height), max(sx - pad, 0), min(ex + pad, width)), (sy, ey, sx, ex))
            )
    return out


@pytest.mark.parametrize(
    ("h", "w", "tile", "pad"), [(48, 64, 16, 4), (37, 53, 16, 10), (5, 7, 512, 10), (100, 30, 32, 0)]
)
def test_grid_matches_reference_loop(h: int, w: int, tile: int, pad: int) -> None:
    ours = [
        ((t.in_y0, t.in_y1, t.in_x0, t.in_x1), (t.core_y0, t.core_y1, t.core_x0, t.core_x1))
        for t in tile_grid(h, w, tile, pad)
    ]
    assert ours == reference_tiles(h, w, tile, pad)


@pytest.mark.parametrize(("h", "w", "tile", "pad", "s"), [(37, 53, 16, 10, 4), (48, 64, 20, 3, 2), (9, 9, 4, 1, 3)])
def test_cores_cover_output_exactly_once(h: int, w: int, tile: int, pad: int, s: int) -> None:
    hits = np.zeros((h * s, w * s), dtype=int)
    for t in tile_grid(h, w, tile, pad):
        ih, iw = t.in_shape
        net_out = np.zeros((ih * s, iw * s))
        oy, ox = t.out_slices(s)
        assert net_out[oy, ox].shape == ((t.core_y1 - t.core_y0) * s, (t.core_x1 - t.core_x0) * s)
        dy, dx = t.dest_slices(s)
        hits[dy, dx] += 1
    assert (hits == 1).all()


def test_tile_zero_is_whole_image() -> None:
    (t,) = tile_grid(30, 40, 0, 10)
    assert (t.in_y0, t.in_y1, t.in_x0, t.in_x1) == (0, 30, 0, 40)


@pytest.mark.parametrize(
    ("h", "w", "scale", "pre", "expected"),
    [
        (37, 53, 2, 0, (0, 1, 1)),
        (37, 53, 1, 0, (0, 3, 3)),
        (37, 53, 4, 0, (0, 0, 0)),
        (36, 52, 2, 10, (10, 0, 0)),
        (36, 51, 1, 1, (1, 3, 0)),
    ],
)
def test_padding_as_reference(h: int, w: int, scale: int, pre: int, expected: tuple[int, int, int]) -> None:
    p = padding(h, w, scale, pre)
    assert (p.pre, p.mod_h, p.mod_w) == expected
    mod = {2: 2, 1: 4}.get(scale, 1)
    ph, pw = p.padded_size(h, w)
    assert ph % mod == 0 and pw % mod == 0

"""Names and numbers that several layers share, in a module that imports nothing.

The torch-free encoder and CLI read frame props that the filters write; keeping the names here lets them do
so without importing a filter (and with it torch).
"""

PATH_PROP = "VSEnhancePath"
"""Frame prop naming the path that made a frame: ``"ai"`` or the fallback resizer's name (e.g. ``"lanczos"``)."""

RANGES_PROP = "VSEnhanceRanges"
"""On every frame of an ``upscale_ranges`` clip: its AI ranges, ``[first0, last0, first1, last1, ...]`` (inclusive),
in that clip's own frame numbers: what the estimate counts instead of sampling."""

HYBRID_FRAME_PROP = "VSEnhanceFrame"
"""On every frame of an ``upscale_ranges`` clip: the frame's number in that clip, so a frame seen after trims and
splices tells where it came from."""

RANGES_FILE_PROP = "VSEnhanceRangesFile"
"""On every frame of an ``upscale_ranges`` clip whose ranges came from a file: that file's absolute path, where the
vs-preview plugin appends the ranges a user marks."""

HYBRID_ID_PROP = "VSEnhanceClip"
"""On every frame of an ``upscale_ranges`` clip: an id telling one such clip from another in the same script."""

CHOICE_PROPS = ("VSEnhanceModel", "VSEnhanceDevice", "VSEnhancePrecision", "VSEnhanceTile")
"""On every frame ``upscale`` makes: the model (its name or file name), the device, the precision and the tile size
actually used (smaller after an out-of-memory retry), so a previewer, which shows props but not logs, shows them."""

NUM_KEYPOINTS = 133
"""COCO-WholeBody keypoints per person: body 17, feet 6, face 68, hands 2 x 21."""

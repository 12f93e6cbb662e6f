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
previewer plugins (vsview or vs-preview) append the ranges a user marks."""

HYBRID_ID_PROP = "VSEnhanceClip"
"""On every frame of an ``upscale_ranges`` clip: an id telling one such clip from another in the same script."""

TILE_PROP = "VSEnhanceTile"
"""The tile size a frame was made with; 0: the whole frame at once."""

BACKEND_PROP = "VSEnhanceBackend"
"""What ran the network: ``"torch"`` or ``"openvino"`` (``""`` on an ``upscale_ranges`` fallback frame)."""

CHOICE_PROPS = ("VSEnhanceModel", "VSEnhanceDevice", "VSEnhancePrecision", BACKEND_PROP, TILE_PROP)
"""On every frame ``upscale`` makes: the model (its name or file name), the device, the precision, the backend and
the tile size actually used (smaller after an out-of-memory retry), so a previewer, which shows props but not
logs, shows them."""

NUM_KEYPOINTS = 133
"""COCO-WholeBody keypoints per person: body 17, feet 6, face 68, hands 2 x 21."""

HELD_PROP = "VSEnhanceHeldFrom"
"""On every frame ``upscale`` makes (and ``upscale_ranges``): the source frame number whose AI output the frame
shows; equal to the frame's own number when it was computed (always, with ``dedup="off"``, and on the classic
path). Pose frames carry it as ``{prefix}HeldFrom``."""

DEDUP_ID_PROP = "VSEnhanceDedup"
"""On every frame of a clip with held-frame reuse: an id naming its decisions (:mod:`vsenhance.holds`), through
which the encoder and the estimate count the frames that are computed without rendering any."""

DEDUP_FRAME_PROP = "VSEnhanceDedupFrame"
"""With :data:`DEDUP_ID_PROP`: the frame's own number in the clip that made the decisions, so a frame seen after
trims and splices tells which decisions are its own."""

KEY_INTERVAL = 64
"""Held-frame reuse starts afresh every this many frames (frames 0, 64, 128, ... are always computed), so that
showing any frame reads at most this many source frames, and segments of an encode stay independent."""

HELD_IN_FLIGHT = 4
"""With held-frame reuse, frames in flight per stream: a consumer (vspipe) keeps as many frames in flight as the
core has threads, and a held frame takes no thread and no memory while it waits for its key (it shares the key's
output), so this many per stream lets ``streams`` keys run at once through holds of up to four frames."""

"""Names and numbers that several layers share, in a module that imports nothing.

The torch-free encoder and CLI read frame props that the filters write; keeping the names here lets them do
so without importing a filter (and with it torch).
"""

PATH_PROP = "VSEnhancePath"
"""Frame prop naming the path that made a frame: ``"ai"`` or the fallback resizer's name (e.g. ``"lanczos"``)."""

NUM_KEYPOINTS = 133
"""COCO-WholeBody keypoints per person: body 17, feet 6, face 68, hands 2 x 21."""

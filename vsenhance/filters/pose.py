"""Whole-body pose: ``pose()`` (YOLO + ViTPose, batched), ``draw_pose()`` and ``export_pose()``.

The detection and keypoint maths reproduce the per-frame pipeline of kijai's ComfyUI-WanAnimatePreprocess
(``PoseAndFaceDetection``); see docs/pose.md for the prop layout, JSON format and the ``det_interval`` trade-off.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO

import numpy as np
import vapoursynth as vs

from ..bridge.batching import batched_modify
from ..bridge.checks import check_bool, check_choice, check_number, check_path
from ..bridge.colour import check_constant, colour_params, from_rgb, to_rgb
from ..bridge.frames import read_rgb, write_planes
from ..bridge.held import Dedup, HeldRule, KeyFrames, ResultsByKey, resolve_dedup
from ..bridge.pose_props import has_pose, prop_names, read_pose, write_pose
from ..constants import HELD_PROP
from ..errors import ClipError
from ..files import atomic_open, check_output, note_input
from ..models.pose.draw_options import DrawOptions
from ..models.pose.runtime import MAX_BATCH, MAX_STREAMS, PoseRuntime

if TYPE_CHECKING:  # onnxruntime loads when a pose filter is made, not when vsenhance is imported
    from ..models.pose.pipeline import PosePipeline

__all__ = ["draw_pose", "export_pose", "pose"]

log = logging.getLogger(__name__)
core = vs.core
_DRAW = DrawOptions()  # draw_pose's defaults

Background = Literal["black", "frame"]


def _check_pose_args(clip: vs.VideoNode, func: str, args: dict) -> None:
    """Every argument of :func:`pose` (``args``: its locals) that can be checked before a model loads."""
    check_constant(clip, func)
    if clip.num_frames < 1:
        raise ClipError(func, "the clip has no frames.", "Pass a clip with at least one frame.")
    for name, low, high, integer in (
        ("det_threshold", 0.0, 1.0, False), ("nms_iou", 0.0, 1.0, False), ("max_persons", 1, 1000, True),
        ("det_interval", 1, 100000, True), ("cache_frames", 1, 10**7, True),
    ):  # fmt: skip
        check_number(func, name, args[name], low, high, integer=integer)
    for name, high in (("threads", 1024), ("batch", MAX_BATCH), ("streams", MAX_STREAMS)):
        if args[name] not in (None, "auto"):
            check_number(func, name, args[name], 1, high, integer=True)
    check_prefix(func, args["prefix"])
    check_path(func, "detector", args["detector"], "the path of an ONNX file")
    check_path(func, "pose_model", args["pose_model"], "the path of an ONNX file")


def check_prefix(func: str, prefix) -> None:
    if not isinstance(prefix, str) or not prefix or not prefix.replace("_", "a").isalnum():
        raise ClipError(
            func,
            f"prefix={prefix!r} is not a usable prop name prefix.",
            'Pass a non-empty name of letters, digits and "_", e.g. "Pose".',
        )


def pose(
    clip: vs.VideoNode,
    detector: str | os.PathLike = "yolov10m.onnx",
    pose_model: str | os.PathLike = "vitpose-l-wholebody.onnx",
    *,
    batch: int | str = "auto",
    providers: str | Sequence[str] = "auto",
    det_threshold: float = 0.05,
    nms_iou: float = 0.5,
    max_persons: int = 1,
    det_interval: int = 1,
    prefix: str = "Pose",
    threads: int | None = None,
    cache_frames: int = 4096,
    streams: int | str = "auto",
    dedup: Dedup = "exact",
) -> vs.VideoNode:
    """Find people and their 133 whole-body keypoints; frames pass through unchanged with pose props.

    Props (``prefix="Pose"``): ``PoseCount``, ``PoseDetected``, ``PoseBoxes`` (P x ``[x1, y1, x2, y2, score]``),
    ``PoseKeypoints`` (P x 133 x ``[x, y, score]``), flat float arrays in source pixels.

    ``batch``: frames per model call (``"auto"``: ``max(8, min(16, frames // 4))``, capped by clip length and
    memory); ``providers``: ``"auto"`` (TensorRT/CUDA when usable, else CPU), a name (``"cuda"``, ``"cpu"``)
    or a list; ``det_interval`` k > 1 runs the detector on every k-th frame and reuses its boxes in between.

    ``streams``: groups computed at once (``"auto"``: 2 with a GPU provider, 1 on the CPU); ``threads``: ONNX
    Runtime threads per session (default: the cores over ``streams``). Why: :func:`.models.pose.runtime.plan_runtime`.

    ``dedup``: held frames (the picture of the frame before, repeated) take the boxes and keypoints of the frame
    they repeat, which alone goes through the models: ``"exact"`` (bit-identical frames; the props are those of
    ``"off"``), ``"near"``, a tolerance, or ``"off"``, as :func:`vsenhance.upscale`'s. ``{prefix}HeldFrom`` says
    which frame's pose a frame carries (its own number when computed). With ``det_interval`` k > 1 the detector
    runs on every k-th computed frame of a group.
    """
    func = "vsenhance.pose"
    _check_pose_args(clip, func, locals())
    rule = resolve_dedup(dedup, func)
    for model in (detector, pose_model):  # inputs: no output may replace them (ONNX Runtime closes the files)
        note_input(model)
    rgb = to_rgb(clip, colour_params(clip, func))

    from ..models.pose.pipeline import PosePipeline
    from ..models.pose.runtime import plan_runtime

    run = plan_runtime(
        clip.num_frames, clip.width, clip.height, batch=batch, det_interval=int(det_interval), streams=streams,
        threads=threads, providers=providers, func=func,
    )  # fmt: skip
    pipeline = PosePipeline(
        detector, pose_model, providers=providers, det_threshold=det_threshold, nms_iou=nms_iou,
        max_persons=int(max_persons), threads=run.threads, func=func,
    )  # fmt: skip
    log.info(
        "%s: batch %d, det_interval %d, %d groups at once, %d threads per session, providers %s",
        func, run.batch, det_interval, run.streams, run.threads, pipeline.providers,
    )  # fmt: skip

    return _run(clip, rgb, pipeline, run, rule, prefix, int(det_interval), int(cache_frames))


def _run(
    clip: vs.VideoNode, rgb: vs.VideoNode, pipeline: PosePipeline, run: PoseRuntime, rule: HeldRule | None,
    prefix: str, det_interval: int, cache_frames: int,
) -> vs.VideoNode:  # fmt: skip
    """The clip whose frames carry the pose props, each group of ``run.batch`` frames through ``pipeline``
    once; with a held-frame ``rule`` the models see each key frame's picture once."""
    held_from = f"{prefix}HeldFrom"
    if rule is None:

        def compute(frames: Sequence[vs.VideoFrame], first: int) -> list:
            results = pipeline([read_rgb(f) for f in frames], det_interval)
            return [(result, first + i) for i, result in enumerate(results)]

    else:  # each group's frames show their key frames' pictures (rgb.at_key): the models see each key once
        keys = KeyFrames(clip, rule)
        rgb = keys.at_key(rgb)
        by_key = ResultsByKey(cache_frames)

        def compute(frames: Sequence[vs.VideoFrame], first: int) -> list:
            shown = [int(f.props[HELD_PROP]) for f in frames]
            pictures = dict(zip(shown, frames, strict=True))  # all frames of a key show one picture
            found = by_key.get(shown, lambda todo: pipeline([read_rgb(pictures[k]) for k in todo], det_interval))
            return [(found[key], key) for key in shown]

    def apply(frame: vs.VideoFrame, result, n: int) -> None:
        found, key = result
        write_pose(frame.props, prefix, found.boxes, found.keypoints, found.detected)
        frame.props[held_from] = key

    return batched_modify(clip, rgb, run.batch, compute, apply, cache_frames=cache_frames, streams=run.streams)


def _missing(func: str, prefix: str) -> ClipError:
    return ClipError(
        func,
        f"frame has no {prop_names(prefix)['Count']} prop.",
        f"Pass a clip returned by vsenhance.pose(..., prefix={prefix!r}).",
    )


def draw_pose(
    clip: vs.VideoNode,
    *,
    prefix: str = "Pose",
    background: Background = "black",
    threshold: float = _DRAW.threshold,
    body_stick_width: int = _DRAW.body_stick_width,
    hand_stick_width: int = _DRAW.hand_stick_width,
    draw_body: bool = _DRAW.draw_body,
    draw_hands: bool = _DRAW.draw_hands,
    draw_head: bool = _DRAW.draw_head,
    draw_face: bool = _DRAW.draw_face,
) -> vs.VideoNode:
    """Render the pose props of ``clip`` (from ``pose()``) as an RGB24 OpenPose skeleton.

    ``background="black"`` draws on a black canvas (like the reference ``DrawViTPose``), ``"frame"`` over the
    frame converted to RGB24. Body: 20-point OpenPose order, limbs at 60 % colour; hands: HSV edge colours;
    ``draw_face`` adds the 68 face landmarks as white dots. Pose props are copied to the output frames.
    """
    func = "vsenhance.draw_pose"
    check_constant(clip, func)
    check_prefix(func, prefix)
    check_number(func, "threshold", threshold, -1e9, 1e9)
    check_number(func, "body_stick_width", body_stick_width, -1, 1000, integer=True)
    check_number(func, "hand_stick_width", hand_stick_width, -1, 1000, integer=True)
    for name, value in (("draw_body", draw_body), ("draw_hands", draw_hands), ("draw_head", draw_head),
                        ("draw_face", draw_face)):  # fmt: skip
        check_bool(func, name, value)
    background = check_choice(func, "background", background, Background)
    if background == "black":
        base = core.std.BlankClip(clip, format=vs.RGB24, color=[0, 0, 0], keep=True)
    else:
        rgb24 = core.get_video_format(vs.RGB24)
        params = colour_params(clip, func)
        base = clip if clip.format.id == vs.RGB24 else from_rgb(to_rgb(clip, params), rgb24, params)

    from ..models.pose import skeleton

    names = list(prop_names(prefix).values())
    opts = DrawOptions(
        threshold=float(threshold),
        body_stick_width=int(body_stick_width),
        hand_stick_width=int(hand_stick_width),
        draw_body=draw_body,
        draw_hands=draw_hands,
        draw_head=draw_head,
        draw_face=draw_face,
    )

    def render(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        posed = f[1].props
        if not has_pose(posed, prefix):
            raise _missing(func, prefix)
        _, keypoints = read_pose(posed, prefix)
        out = f[0].copy()
        canvas = np.ascontiguousarray(read_rgb(out))
        for person in keypoints:
            skeleton.draw(canvas, person, opts)
        write_planes(out, [canvas[..., 0], canvas[..., 1], canvas[..., 2]])
        for name in names:
            if name in posed:
                out.props[name] = posed[name]
        return out

    return core.std.ModifyFrame(base, [base, clip], render)


def export_pose(
    clip: vs.VideoNode, path: str | os.PathLike, *, prefix: str = "Pose", include_wholebody: bool = False
) -> int:
    """Write the pose props of every frame to ``path`` as JSON, streaming (frame by frame); returns the count.

    Layout: ``{"format": "vsenhance-pose/1", "width", "height", "fps", "num_frames", "frames": [{"frame": n,
    "people": [{"box", "pose_keypoints_2d" (20 x 3), "hand_left_keypoints_2d" (21 x 3),
    "hand_right_keypoints_2d" (21 x 3), "face_keypoints_2d" (70 x 3)}]}]}``; ``include_wholebody`` adds the
    raw 133 x 3 ``wholebody_keypoints_2d``. The file appears at ``path`` only when complete (written beside it,
    then renamed; a symlink's target is written, the link kept); the destination is checked, and the temp file
    created, before the first frame is computed. A FIFO or device at ``path`` (``/dev/stdout``) is written
    through as the frames come, never replaced by a file.
    """
    func = "vsenhance.export_pose"
    check_constant(clip, func)
    check_prefix(func, prefix)
    check_path(func, "path", path, "a file path such as 'poses.json'")
    check_bool(func, "include_wholebody", include_wholebody)
    target = Path(path)
    stream = target.exists() and not target.is_file()  # a FIFO or a device: written through, as it is
    if not stream:
        target = Path(os.path.realpath(target))  # a symlink's target: the link itself is never replaced
    # never the video the clip reads, a model it was given, or the script: the one output check
    check_output(func, target)

    try:
        with open(target, "w", encoding="utf-8") if stream else atomic_open(target, "w", encoding="utf-8") as fh:
            count = write_pose_json(clip, fh, prefix=prefix, include_wholebody=include_wholebody, func=func)
    except OSError as exc:  # the folder refuses the temp file (before any frame), or the disk fills up
        raise ClipError(
            func, f"cannot write {target} ({exc.strerror or exc}).", "Pass a path in a folder you can write to."
        ) from exc
    log.info("%s: wrote %d frames to %s", func, count, target)
    return count


def write_pose_json(
    clip: vs.VideoNode, fh: TextIO, *, prefix: str = "Pose", include_wholebody: bool = False,
    func: str = "vsenhance.export_pose",
) -> int:  # fmt: skip
    """:func:`export_pose`'s JSON, streamed frame by frame to an open text stream (``pose-export -o -``: the
    standard output); returns the frame count."""
    from ..models.pose.skeleton import openpose_person

    header = {
        "format": "vsenhance-pose/1",
        "width": clip.width,
        "height": clip.height,
        "fps": [clip.fps.numerator, clip.fps.denominator],
        "num_frames": clip.num_frames,
        "keypoints": "body: OpenPose 18 + LToe, RToe (20); hands: 21 each; face: 68 + 2 eyes (70); x, y, score",
    }
    fh.write(json.dumps(header)[:-1] + ', "frames": [\n')
    count = 0
    for n, frame in enumerate(clip.frames(close=True)):
        props = frame.props
        if not has_pose(props, prefix):
            raise _missing(func, prefix)
        boxes, keypoints = read_pose(props, prefix)
        people = []
        for box, kps in zip(boxes, keypoints, strict=True):
            person = openpose_person(kps, box)
            if include_wholebody:
                person["wholebody_keypoints_2d"] = kps.ravel().tolist()
            people.append(person)
        entry = {"frame": n, "detected": int(props[prop_names(prefix)["Detected"]]), "people": people}
        fh.write(("" if n == 0 else ",\n") + json.dumps(entry))
        count += 1
    fh.write("\n]}\n")
    return count

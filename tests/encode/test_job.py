"""job.py's own pieces: a segment attempt's task, the clip check, the options' defaults (end to end: the e2e
and farm tests)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vsenhance.encode import job
from vsenhance.encode.encoder import EncoderSettings
from vsenhance.encode.farm.protocol import ClipSummary
from vsenhance.encode.plan import DEFAULT_SEGMENT_FRAMES, make_segments
from vsenhance.encode.scheduler import DEFAULT_MAX_RETRIES
from vsenhance.encode.state import EncodeState
from vsenhance.errors import ClipError


def test_a_task_writes_a_partial_unique_to_its_attempt(tmp_path):
    state = EncodeState(tmp_path / "out.mkv.vsenhance")
    seg = make_segments(100, 40)[1]
    task = job.render_task(
        Path("/usr/bin/ffmpeg"), EncoderSettings.create("ffv1", None, None, None), state, seg, "w3", 2
    )
    assert (task.index, task.first, task.last, task.attempt) == (1, 40, 79, 2)
    assert task.partial == str(state.dir / "seg_00001.w3.a2.partial.mkv") and task.ffmpeg_argv[-1] == task.partial
    assert task.final == str(state.segment_path(seg))


@pytest.mark.parametrize(
    ("clip", "fragment"),
    [
        (ClipSummary(0, 24, 1, 64, 48, "YUV420P8", "YUV"), "has 0 frames"),
        (ClipSummary(10, 24, 1, 0, 0, None, None), "variable frame size or format"),
        (ClipSummary(10, 24, 1, 64, 48, "RGB24", "RGB"), "y4m carries only YUV or GRAY"),
    ],
)
def test_clips_y4m_cannot_carry_are_refused(clip, fragment):
    with pytest.raises(ClipError, match=fragment):
        job._check_clip(clip, Path("s.vpy"))
    job._check_clip(ClipSummary(10, 24, 1, 64, 48, "Gray16", "GRAY"), Path("s.vpy"))


def test_options_defaults_are_the_declared_ones():
    opts = job.EncodeOptions(Path("s.vpy"), Path("o.mkv"))
    assert (opts.segment_frames, opts.max_retries, opts.script_args, opts.gpus) == (
        DEFAULT_SEGMENT_FRAMES,
        DEFAULT_MAX_RETRIES,
        {},
        (),
    )
    assert opts.encoder == EncoderSettings.create("x264", None, None, None)


def test_more_workers_than_cores_is_warned_about_with_the_numbers():
    cores = len(os.sched_getaffinity(0))
    opts = job.EncodeOptions(Path("s.vpy"), Path("o.mkv"), workers=cores + 3)
    assert job._placement_warnings(opts) == [
        f"--workers {cores + 3} is more than this machine's {cores} cores: workers will share cores"
    ]
    assert job._placement_warnings(job.EncodeOptions(Path("s.vpy"), Path("o.mkv"), workers=1)) == []

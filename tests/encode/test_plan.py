from __future__ import annotations

import hashlib
import json

import pytest

from vsenhance.encode.encoder import EncoderSettings
from vsenhance.encode.plan import Plan, env_digests, make_segments
from vsenhance.errors import ClipError, EncodeError


def test_segments_cover_every_frame_once_last_shorter():
    segs = make_segments(105, 25)
    assert [(s.first, s.last) for s in segs] == [(0, 24), (25, 49), (50, 74), (75, 99), (100, 104)]
    assert [s.frames for s in segs] == [25, 25, 25, 25, 5]
    assert sum(s.frames for s in segs) == 105
    assert segs[3].name == "seg_00003.mkv"


def test_segment_larger_than_clip_and_exact_multiple():
    assert [(s.first, s.last) for s in make_segments(10, 1000)] == [(0, 9)]
    assert [(s.first, s.last) for s in make_segments(50, 25)] == [(0, 24), (25, 49)]
    assert [(s.first, s.last) for s in make_segments(3, 1)] == [(0, 0), (1, 1), (2, 2)]


@pytest.mark.parametrize(("total", "size"), [(0, 10), (10, 0), (-1, 5), (5, -2)])
def test_segments_reject_nonpositive(total, size):
    with pytest.raises(ClipError):
        make_segments(total, size)


def _plan(**kw) -> Plan:
    base = dict(
        script="/x/a.vpy",
        script_sha256="ab" * 32,
        script_args={"a": "1"},
        encoder=EncoderSettings.create("x264", 18, "slow", None),
        segment_frames=100,
        total_frames=1000,
    )
    base.update(kw)
    return Plan(**base)


def test_fingerprint_covers_script_args_encoder_segments_frames():
    ref = _plan()
    assert ref.fingerprint == _plan().fingerprint
    # script path, fps and size are informational: moving the script keeps the plan
    assert ref.fingerprint == _plan(script="/elsewhere/a.vpy", width=5).fingerprint
    changed = [
        _plan(script_sha256="cd" * 32),
        _plan(script_args={"a": "2"}),
        _plan(encoder=EncoderSettings.create("x264", 20, "slow", None)),
        _plan(encoder=EncoderSettings.create("x264", 18, "fast", None)),
        _plan(encoder=EncoderSettings.create("x265", 18, "slow", None)),
        _plan(encoder=EncoderSettings.create("x264", 18, "slow", "-tune film")),
        _plan(segment_frames=50),
        _plan(total_frames=999),
    ]
    prints = {p.fingerprint for p in changed}
    assert len(prints) == len(changed) and ref.fingerprint not in prints


def test_differences_name_what_changed():
    diffs = _plan().differences(_plan(script_sha256="00" * 32, segment_frames=50))
    assert any("script's content" in d for d in diffs)
    assert any("segment size (100 → 50)" in d for d in diffs)
    assert len(diffs) == 2


def test_plan_json_round_trip():
    plan = _plan(encoder=EncoderSettings.create("x265", 20.5, "medium", "-x265-params 'aq-mode=3'"))
    again = Plan.from_json(plan.to_json())
    assert again == plan and again.fingerprint == plan.fingerprint
    assert plan.to_json()["segments"][-1] == [900, 999]
    with pytest.raises(EncodeError):
        Plan.from_json({"script": "x"})


def test_script_args_saved_sorted_and_read_back():
    plan = _plan(script_args={"b": "2", "a": "x=y", "c": ""})
    assert plan.to_json()["script_args"] == ["a=x=y", "b=2", "c="]
    assert Plan.from_json(plan.to_json()).script_args == {"a": "x=y", "b": "2", "c": ""}
    assert _plan(script_args={}).to_json()["script_args"] == []
    for bad in (["novalue"], ["=1"]):
        with pytest.raises(EncodeError, match="saved plan is not readable"):
            Plan.from_json(plan.to_json() | {"script_args": bad})


def test_new_encoder_fields_keep_old_plans_resumable_and_are_recorded_where_set():
    # a plan written before --profile and --cq existed hashed exactly these four fields: it still matches
    assert _plan().fingerprint_fields()["encoder"] == {
        "encoder": "x264",
        "crf": 18,
        "preset": "slow",
        "ffmpeg_args": [],
    }
    old_json = _plan().to_json()
    assert Plan.from_json(old_json).fingerprint == old_json["fingerprint"]
    prores = {p: _plan(encoder=EncoderSettings.create("prores", None, None, None, profile=p)) for p in ("hq", "lt")}
    assert prores["hq"].fingerprint != prores["lt"].fingerprint
    assert prores["hq"].differences(prores["lt"]) == ["the encoder settings (profile=hq → profile=lt)"]
    nvenc = _plan(encoder=EncoderSettings.create("nvenc-hevc", None, "p7", None, cq=24))
    again = Plan.from_json(nvenc.to_json())
    assert again == nvenc and again.encoder.cq == 24 and again.encoder.crf is None


def test_env_variables_are_recorded_as_digests_and_old_plans_keep_their_fingerprint():
    assert "env" not in _plan().to_json()  # no --env: the plan reads as before --env existed
    secret = _plan(env=env_digests({"API_KEY": "hunter2", "GRAIN": "0.3"}))
    saved = secret.to_json()
    assert saved["env"] == {
        name: hashlib.sha256(v).hexdigest() for name, v in [("API_KEY", b"hunter2"), ("GRAIN", b"0.3")]
    }
    assert "hunter2" not in json.dumps(saved) and Plan.from_json(saved) == secret
    other = _plan(env=env_digests({"API_KEY": "hunter2", "GRAIN": "0.5"}))
    assert other.fingerprint != secret.fingerprint != _plan().fingerprint
    assert secret.differences(other) == ["the --env variables (GRAIN changed)"]
    assert _plan().differences(secret) == ["the --env variables (API_KEY, GRAIN changed)"]

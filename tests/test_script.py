"""run_script executes a .vpy like vspipe; parse_script_args is the one -a parser."""

from __future__ import annotations

import os

import pytest
import vapoursynth as vs

from vsenhance.errors import ClipError
from vsenhance.script import parse_script_args, parse_script_env, run_script

HEAD = "import vapoursynth as vs\ncore = vs.core\n"


def test_parse_script_args():
    assert parse_script_args(["a=1", "b=x=y", "c=", "a=2"], "encode") == {"a": "2", "b": "x=y", "c": ""}
    assert parse_script_args(None, "encode") == {}
    for bad in ("novalue", "=1"):
        with pytest.raises(ClipError, match="is not key=value"):
            parse_script_args([bad], "caller")
    assert list(parse_script_args(["z=1", "a=b=c"], "encode")) == ["a", "z"]  # sorted by key, once, where they enter


def test_run_script_like_vspipe(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "length.txt").write_text("7")
    script = folder / "s.vpy"
    script.write_text(
        HEAD + "import os\n"
        "assert __name__ == '__vapoursynth__' and isinstance(width, str)\n"
        "assert os.path.isabs(__file__)\n"
        "n = int(open('length.txt').read())\n"  # relative to the script's folder
        "core.std.BlankClip(format=vs.GRAY8, width=int(width), height=8, length=n).set_output()\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    clip = run_script(script, {"width": "16"})
    assert (clip.num_frames, clip.width) == (7, 16)
    assert os.getcwd() == str(elsewhere)  # restored after the script ran, as vspipe does


def test_run_script_outputs(tmp_path):
    two = tmp_path / "two.vpy"
    two.write_text(HEAD + "core.std.BlankClip(length=1).set_output(0)\ncore.std.BlankClip(length=2).set_output(1)\n")
    assert run_script(two, output=1).num_frames == 2
    one = tmp_path / "one.vpy"
    one.write_text(HEAD + "core.std.BlankClip(length=1).set_output()\n")
    with pytest.raises(ClipError, match="sets no output 1"):  # the previous script's outputs were cleared
        run_script(one, output=1, func="caller")
    audio = tmp_path / "audio.vpy"
    audio.write_text(HEAD + "core.std.BlankAudio(length=100).set_output()\n")
    with pytest.raises(ClipError, match="not a video clip"):
        run_script(audio)
    with pytest.raises(ClipError, match="does not exist"):
        run_script(tmp_path / "missing.vpy")
    assert isinstance(run_script(one), vs.VideoNode)


def test_script_arg_types_what_vspipe_passes_as_text_and_names_a_bad_value():
    from vsenhance import script_arg

    args = {"tile": "256", "compile": "on", "strength": "0.5", "off": "OFF", "vsview": 3}
    assert script_arg(args, "tile", 512) == 256 and script_arg(args, "missing", 512) == 512
    assert script_arg(args, "compile", False) is True and script_arg(args, "off", True) is False
    assert script_arg(args, "strength", 1.0) == 0.5 and script_arg(args, "vsview", 1) == 3  # a previewer's int
    with pytest.raises(ClipError, match=r"-a tile=abc is not a whole number\. Fix: pass e.g\. -a tile=512"):
        script_arg({"tile": "abc"}, "tile", 512)
    with pytest.raises(ClipError, match="-a compile=maybe is not true or false"):
        script_arg({"compile": "maybe"}, "compile", False)


def test_parse_script_env_takes_this_shells_values_and_refuses_what_names_no_variable(monkeypatch):
    monkeypatch.setenv("GRAIN", "0.3")
    monkeypatch.delenv("NOT_SET_HERE", raising=False)
    assert parse_script_env(["TINT=a=b", "GRAIN", "EMPTY="], "encode") == {"EMPTY": "", "GRAIN": "0.3", "TINT": "a=b"}
    assert list(parse_script_env(["b=1", "a=2"], "encode")) == ["a", "b"]  # sorted: order means nothing to a script
    with pytest.raises(ClipError, match=r"encode: --env NOT_SET_HERE: NOT_SET_HERE is not set .* Fix: export"):
        parse_script_env(["NOT_SET_HERE"], "encode")
    for bad in ("", "=x", "1ST", "A-B", "A B", "GRÜN", "$HOME"):
        with pytest.raises(ClipError, match="does not name an environment variable"):
            parse_script_env([bad], "encode")

"""Executing a .vpy script in this process the way ``vspipe`` does, and the one ``-a key=value`` parser.

Used by everything that runs the user's script outside vspipe (the estimate sampler, ``pose-export``, the
farm's render workers), so a script means the same everywhere. What vspipe R81 does, measured, and what
:func:`run_script` therefore does:

- the working directory is the script's folder *while the script executes* and is restored afterwards
  (so ``open("length.txt")`` or ``VideoSource("sample.mkv")`` in the script resolve beside the script);
- the script's folder is *not* added to ``sys.path`` (vspipe cannot import a module beside the script either);
- ``-a key=value`` values are ``str`` globals, ``__name__ == "__vapoursynth__"``;
- the outputs are cleared first, and output N (default 0) must be a video clip.

One deliberate difference: ``__file__`` is the absolute path (vspipe passes the path as typed, which is wrong
relative to the script's folder during execution).
"""

from __future__ import annotations

import os
import runpy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ClipError, FileError

if TYPE_CHECKING:
    import vapoursynth as vs

__all__ = [
    "ScriptArgs",
    "check_script",
    "error_line",
    "parse_script_arg",
    "parse_script_args",
    "parse_script_env",
    "run_script",
    "script_arg",
    "script_args_argv",
]

ScriptArgs = Mapping[str, str]
"""``-a`` arguments, parsed once where they enter (the CLI, a worker's argv), keyed and sorted by name."""


def parse_script_arg(text: str, func: str) -> tuple[str, str]:
    """``"key=value"`` -> ``("key", "value")``; the value may contain ``=`` and may be empty."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ClipError(func, f"script argument {text!r} is not key=value.", "pass -a key=value.")
    return key, value


def parse_script_args(items: Iterable[str] | None, func: str) -> dict[str, str]:
    """``-a`` items as a dict sorted by key (order does not matter to a script); a repeated key keeps its last
    value (as vspipe does)."""
    return dict(sorted(dict(parse_script_arg(item, func) for item in items or ()).items()))


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def parse_script_env(items: Iterable[str] | None, func: str) -> dict[str, str]:
    """``--env`` items (``NAME``, taking this process's value, or ``NAME=VALUE``) as a dict sorted by name.

    Why: a local worker inherits the driver's whole environment, a Ray worker its node's; a script that reads
    ``os.environ`` renders the same everywhere only for the variables named here, which every worker is given
    and the plan records. A name that is not a variable's, or one this process does not have, is refused now.
    """
    env: dict[str, str] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not name.isascii() or not name.replace("_", "a").isalnum() or name[0].isdigit():
            shown = item if len(item) <= 40 else item[:37] + "..."
            raise ClipError(func, f"--env {shown!r} does not name an environment variable.", "pass NAME or NAME=VALUE.")
        if not sep and name not in os.environ:
            raise ClipError(
                func,
                f"--env {name}: {name} is not set in this environment.",
                f"export {name}, or pass --env {name}=VALUE.",
            )
        env[name] = value if sep else os.environ[name]
    return dict(sorted(env.items()))


def script_arg[T: (str, int, float, bool)](args: Mapping[str, object], name: str, default: T) -> T:
    """Inside a script: ``-a name=value`` as the type of ``default`` (vspipe passes strings; vs-preview and
    vsview may pass ints). A bool takes 1/0, true/false, yes/no, on/off; a value that is none of its type is
    one line naming the argument, not a ``ValueError`` from deep inside the script.

    ``tile = vse.script_arg(globals(), "tile", 512)``
    """
    value = args.get(name, default)
    if isinstance(default, bool):
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE  # type: ignore[return-value]
        raise ClipError(
            "vsenhance.script_arg", f"-a {name}={value} is not true or false.", f"pass -a {name}=1 or {name}=0."
        )
    try:
        return type(default)(value)  # type: ignore[return-value]
    except (TypeError, ValueError):
        kind = {int: "a whole number", float: "a number"}.get(type(default), "text")
        raise ClipError(
            "vsenhance.script_arg", f"-a {name}={value} is not {kind}.", f"pass e.g. -a {name}={default}."
        ) from None


def script_args_argv(args: ScriptArgs) -> list[str]:
    """``["-a", "k=v", ...]``: how parsed arguments travel to a child process (vspipe, a worker, the sampler)."""
    argv: list[str] = []
    for key, value in args.items():
        argv += ["-a", f"{key}={value}"]
    return argv


def error_line(exc: BaseException) -> str:
    """What a script's error says, in one line: a frame's ``vs.Error`` carries the Python traceback of the
    callback, whose last line says why; ``sys.exit()`` in a callback comes back as its ``SystemExit``."""
    if isinstance(exc, SystemExit):
        return f"the script called sys.exit({exc.code!r})"
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if "Traceback" in text or type(exc).__name__ == "Error":  # a callback's traceback, or VapourSynth's own
        return lines[-1]
    return f"{type(exc).__name__}: {lines[-1]}"  # raised by the script itself: RuntimeError: boom


def check_script(script: Path, func: str) -> Path:
    """``script`` as an absolute path, once it is a readable file that Python can compile (nothing executed).

    A syntax error, or a video passed where the script goes, is one line now rather than a worker's traceback
    after it started (on a Ray cluster, after every node started one).
    """
    path = Path(os.path.abspath(script))
    if path.is_dir():
        raise FileError(func, f"the script {os.fspath(script)} is a folder.", "pass the path of a .vpy script.")
    try:
        source = path.read_bytes()
    except FileNotFoundError:
        raise FileError(func, f"the script {os.fspath(script)} does not exist.", "check the path.") from None
    except OSError as exc:
        raise ClipError(func, f"the script {os.fspath(script)} cannot be read ({exc.strerror}).", "check it.") from exc
    if b"\0" in source:  # a video or an archive passed as the script
        raise ClipError(func, f"the script {path.name} is not text (it holds NUL bytes).", "pass the .vpy script.")
    try:
        compile(source, os.fspath(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise ClipError(
            func, f"the script {path.name} has a syntax error on line {exc.lineno}: {exc.msg}.", "fix that line."
        ) from None
    return path


def run_script(
    script: Path, args: Mapping[str, str] | None = None, output: int = 0, func: str = "run_script"
) -> vs.VideoNode:
    """Execute ``script`` like vspipe and return output ``output`` as a VideoNode.

    Exceptions raised by the script propagate unchanged; a missing script, a missing output or an output that
    is not video raise :class:`ClipError` naming ``func``.
    """
    import vapoursynth as vs

    path = check_script(script, func)
    vs.clear_outputs()
    cwd = os.getcwd()
    os.chdir(path.parent)
    try:
        runpy.run_path(os.fspath(path), init_globals=dict(args or {}), run_name="__vapoursynth__")
    finally:
        os.chdir(cwd)
    outputs = vs.get_outputs()
    if output not in outputs:
        raise ClipError(
            func,
            f"the script {path.name} sets no output {output} (it sets {sorted(outputs) or 'none'}).",
            f"call clip.set_output({output or ''}) in the script, or choose another output.",
        )
    node = outputs[output]
    node = getattr(node, "clip", node)  # VideoOutputTuple -> VideoNode
    if not isinstance(node, vs.VideoNode):
        raise ClipError(
            func,
            f"output {output} of {path.name} is {type(node).__name__}, not a video clip.",
            "set a video clip as that output.",
        )
    return node

"""The error rule of ``vsenhance/errors.py``, held at every place an error is made: the class for the kind of
problem its words describe, and ``func`` spelled as the user called it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import vsenhance.errors as errors

PACKAGE = Path(errors.__file__).parent
CLASSES = {name for name in errors.__all__}
# What a user calls: the public filters and helpers by their vse.* names, the commands as typed.
PUBLIC = {
    "vsenhance.upscale", "vsenhance.upscale_ranges", "vsenhance.pose", "vsenhance.draw_pose",
    "vsenhance.export_pose", "vsenhance.script_arg", "encode", "encode --ray", "estimate", "cut", "pose-export",
    "models download", "models path", "models import-ncnn", "preview-plugin install", "preview-plugin uninstall",
}  # fmt: skip
FILE_WORDS = re.compile(
    r"does not exist|is a (directory|folder)|is a file\b|not a regular file|not writable|cannot be written|"
    r"is the input|already exists|refuses writes|cannot be created|is a link to|cannot write into|cannot remove"
)
DEVICE_WORDS = re.compile(
    r"\b(CUDA|GPU|NVENC|TensorRT|libnvinfer)\b|execution provider|providers?=|device=|supported on the CPU|"
    r"out of memory|fell back|OpenVINO runtime|for device\b"
)


def _text(node: ast.expr | None) -> str | None:
    """The literal words of a message (an f-string's fixed parts, "{}" for what it fills in); None if computed."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        return None if left is None and right is None else (left or "") + (right or "")
    return None


def _sites() -> list[tuple[str, int, str, ast.Call]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in CLASSES:
                found.append((rel, node.lineno, node.func.id, node))
    return found


def expected_class(module: str, problem: str) -> set[str]:
    """The classes the rule allows for a problem with these words, said in this module (a model's words are
    a model's problem: in ``models/``, or naming a model)."""
    file, device = FILE_WORDS.search(problem), DEVICE_WORDS.search(problem)
    about_model = "model" in problem.lower() or (module.startswith("vsenhance/models/") and not file)
    if device:  # a device that is absent or failed; a malformed device argument (--gpus x) is a ClipError
        return {"DeviceError", "ClipError"}
    if about_model:
        return {"ModelError", "DownloadError"} | (set() if file else {"ClipError"})
    if file:
        return {"FileError"}
    return {"ClipError", "EncodeError", "PlanMismatchError"}


SITES = _sites()


def test_the_rule_sees_the_sites():
    assert len(SITES) > 150  # every construction of an error class in the package


@pytest.mark.parametrize(("module", "line", "cls", "call"), SITES, ids=[f"{m}:{n}" for m, n, _, _ in SITES])
def test_each_error_is_the_class_its_problem_calls_for(module, line, cls, call):
    args = list(call.args) + [k.value for k in call.keywords]
    problem = _text(args[1]) if len(args) > 1 else None
    if problem is None:
        pytest.skip("the problem's words are computed elsewhere; that place is held to the rule")
    allowed = expected_class(module, problem)
    assert cls in allowed, f"{module}:{line} {cls}({problem!r}) should be one of {sorted(allowed)}"


@pytest.mark.parametrize(("module", "line", "cls", "call"), SITES, ids=[f"{m}:{n}" for m, n, _, _ in SITES])
def test_func_is_what_the_user_called(module, line, cls, call):
    first = call.args[0] if call.args else None
    if isinstance(first, ast.Constant):
        assert first.value in PUBLIC, f"{module}:{line}: func {first.value!r} is not what a user calls"
    else:
        assert isinstance(first, ast.Name | ast.Attribute), f"{module}:{line}: func is {ast.unparse(first)}"


def test_a_path_problem_is_one_class_wherever_it_is_met(tmp_path):
    from vsenhance.files import check_output
    from vsenhance.script import check_script

    missing = tmp_path / "none" / "out.mkv"
    for call in (lambda: check_output("encode", missing), lambda: check_script(tmp_path / "no.vpy", "encode")):
        with pytest.raises(errors.FileError) as caught:
            call()
        assert isinstance(caught.value, errors.ClipError | ValueError)  # a path is an argument: one except for both

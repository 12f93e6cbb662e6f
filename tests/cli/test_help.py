"""``--help`` is written for users: what each command does, in one style, with examples to copy."""

from __future__ import annotations

import pytest

from vsenhance.cli import build_parser, main

COMMANDS = [
    (), ("encode",), ("estimate",), ("cut",), ("pose-export",), ("models",), ("models", "list"),
    ("models", "download"), ("models", "import-ncnn"), ("models", "path"), ("preview-plugin",),
    ("preview-plugin", "install"), ("preview-plugin", "uninstall"),
]  # fmt: skip
SCRIPT_COMMANDS = {("encode",), ("estimate",), ("pose-export",)}


def _help(capsys, command: tuple[str, ...]) -> str:
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def test_every_command_is_listed_here():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices) == {c[0] for c in COMMANDS if c}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "vsenhance")
def test_help_says_what_a_command_does_for_a_user(capsys, command):
    text = _help(capsys, command)
    usage, _, rest = text.partition("\n\n")
    description = rest.split("\n\n")[0]
    assert not description.startswith(("positional arguments", "options")), text  # every command says what it does
    for developer_words in ("``", ":func:", ":mod:", "argument parsing", "calls into the package"):
        assert developer_words not in text, text
    if command in SCRIPT_COMMANDS:
        assert "SCRIPT.vpy" in usage and "[-a key=value]" in usage, usage
    if len(command) <= 1 or command == ("models", "download"):
        examples = text.split("examples:\n", 1)[1].split("\n\n")[0].splitlines()
        assert examples and all(line.startswith("  vsenhance ") for line in examples), text
        if command:
            assert all(line.split()[1] == command[0] for line in examples), examples

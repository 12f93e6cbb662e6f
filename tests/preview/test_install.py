"""``vsenhance preview-plugin install/uninstall``: one .pth file in vs-preview's global plugins folder."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vsenhance.cli import main
from vsenhance.errors import VSEnhanceError
from vsenhance.preview import install


def test_install_writes_the_plugin_folder_into_a_pth(tmp_path, capsys) -> None:
    assert main(["preview-plugin", "install", "--dir", str(tmp_path / "plugins")]) == 0
    pth = tmp_path / "plugins" / install.PTH_NAME
    assert pth.read_text().splitlines() == [str(install.PLUGIN_FOLDER)]
    assert [p.name for p in install.PLUGIN_FOLDER.iterdir() if p.suffix != ".pyc"] == ["vsenhance_ranges.ppy"]
    assert main(["preview-plugin", "install", "--dir", str(tmp_path / "plugins")]) == 0  # again: same file
    assert pth.read_text().splitlines() == [str(install.PLUGIN_FOLDER)]
    assert main(["preview-plugin", "uninstall", "--dir", str(tmp_path / "plugins")]) == 0
    assert not pth.exists()
    assert main(["preview-plugin", "uninstall", "--dir", str(tmp_path / "plugins")]) == 0
    assert "not installed" in capsys.readouterr().out


def test_the_default_folder_is_vspreviews(tmp_path) -> None:
    """Where vs-preview 0.20 looks (``MainWindow.global_plugins_dir``), computed without importing Qt."""
    code = "from vsenhance.preview.install import plugins_dir; print(plugins_dir())"
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == str(tmp_path / ".config" / "vspreview" / "plugins")


def test_a_plugins_folder_that_is_a_file_is_one_line(tmp_path) -> None:
    (tmp_path / "plugins").write_text("")
    with pytest.raises(VSEnhanceError, match=r"preview-plugin install: .* is a file\. Fix: Move"):
        install.install(tmp_path / "plugins")

"""Open a script in vs-preview, drive the "AI ranges" plugin as a user would, and take screenshots.

Used by the plugin's test and to make the screenshots in docs/preview.md. It needs a display; run it under Xvfb:

    HOME=$(mktemp -d) .venv/bin/vsenhance preview-plugin install     # (same HOME below)
    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python -m scripts.preview_shots SCRIPT OUT_DIR \\
        --props-frame 30 --add-frame 70

It opens SCRIPT with vs-preview's own ``main()``, then, from a timer in vs-preview's event loop:
1. shows frame ``--props-frame`` with the Frame Props panel open and saves ``props.png``;
2. opens the AI ranges panel, reads the timeline's notches and the plugin's list, clicks the second range (a
   jump), shows ``--add-frame`` and presses "Add this frame" (and, with ``--scene``, puts that scene in a new
   list of the Scening toolbar and presses "Add this scene" inside it), then saves ``timeline.png``;
3. writes ``result.json`` (what it read and did) and closes vs-preview.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback
from pathlib import Path

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication

log = logging.getLogger("preview_shots")

PLUGIN = "vsenhance.ranges"
FRAME_PROPS = "dev.setsugen.frame_props"
LOAD_SECONDS = 120


def _settle(app: QApplication, seconds: float = 0.5) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def _open_panel(main, namespace: str) -> None:
    names = list(main.plugins.plugins)
    main.plugins_tab.setCurrentIndex(names.index(namespace))
    width = main.main_split.width() or 1500
    main.main_split.setSizes([width * 11 // 20, width * 9 // 20])
    main.plugins.update()


def drive(args: argparse.Namespace) -> dict:
    from vspreview.core import Frame, main_window

    app = QApplication.instance()
    deadline = time.monotonic() + LOAD_SECONDS
    main = None
    while time.monotonic() < deadline:
        app.processEvents()
        try:
            main = main_window()
        except Exception:  # not built yet
            main = None
        if main is not None and getattr(main, "current_output", None) is not None and hasattr(main, "plugins"):
            break
        time.sleep(0.05)
    else:
        raise TimeoutError(f"vs-preview did not load {args.script} within {LOAD_SECONDS} s")
    main.resize(1600, 1000)
    main.showNormal()
    _settle(app)

    result: dict = {"plugins": list(main.plugins.plugins), "total_frames": int(main.current_output.total_frames)}
    _open_panel(main, FRAME_PROPS)
    main.switch_frame(Frame(args.props_frame))
    _settle(app)
    result["props"] = {k: _plain(v) for k, v in dict(main.current_output.props).items() if k.startswith("VSEnhance")}
    main.grab().save(str(args.out / "props.png"))

    plugin = main.plugins[PLUGIN]
    _open_panel(main, PLUGIN)
    main.timeline.update_notches()
    _settle(app)
    notches = main.timeline.notches.get(plugin)
    result["notches"] = [[int(n.data), n.label] for n in notches] if notches is not None else None
    result["listed"] = [plugin.list.item(i).text() for i in range(plugin.list.count())]
    result["heading"] = plugin.heading.text()
    if plugin.list.count() > 1:
        plugin.list.itemClicked.emit(plugin.list.item(1))
        _settle(app)
        result["after_click"] = int(main.current_output.last_showed_frame)
    main.switch_frame(Frame(args.add_frame))
    _settle(app)
    plugin.add_frame_button.click()
    _settle(app)
    result["status"] = main.statusbar.currentMessage()
    if args.scene:  # a scene in a new list of the Scening toolbar, then "Add this scene" from inside it
        first, last = (int(v) for v in args.scene.split("-"))
        scening = main.toolbars.scening
        _, scening.current_list_index = scening.lists.add()
        scening.current_list.add(Frame(first), Frame(last))
        main.switch_frame(Frame((first + last) // 2))
        _settle(app)
        plugin.add_scene_button.click()
        _settle(app)
        result["scene_status"] = main.statusbar.currentMessage()
    result["file_label"] = plugin.file_label.text()
    main.grab().save(str(args.out / "timeline.png"))
    return result


def _plain(value):
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value if isinstance(value, int | float | str) else repr(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("script", type=Path)
    parser.add_argument("out", type=Path, help="folder for result.json, props.png, timeline.png")
    parser.add_argument("--props-frame", type=int, default=0, help="frame shown with the Frame Props panel")
    parser.add_argument("--add-frame", type=int, default=0, help="frame added to the range file")
    parser.add_argument("--scene", help="FIRST-LAST: a Scening toolbar scene to add with 'Add this scene'")
    parser.add_argument("-a", "--arg", action="append", default=[], metavar="KEY=VALUE", help="script argument")
    args = parser.parse_args()
    args.script = args.script.resolve()
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)

    from vspreview.init import main as vspreview_main

    outcome: dict = {}

    def probe() -> None:
        try:
            outcome.update(drive(args))
        except Exception:
            outcome["error"] = traceback.format_exc()
        (args.out / "result.json").write_text(json.dumps(outcome, indent=1, default=str))
        QApplication.instance().exit(0)

    # vs-preview makes the QApplication and runs its loop inside main(); start the probe from that loop
    exec_ = QApplication.exec

    def exec_with_probe(self) -> int:
        QTimer.singleShot(0, probe)
        return exec_()

    QApplication.exec = exec_with_probe
    vspreview_main([str(args.script), *args.arg], no_exit=True)
    return 1 if "error" in outcome or not outcome else 0


if __name__ == "__main__":
    sys.exit(main())

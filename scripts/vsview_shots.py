"""Open a script in vsview, drive the "AI ranges" dock as a user would, and take screenshots.

Used by the vsview plugin's test and to make the screenshots in docs/preview.md. It needs a display and
vsview (``scripts/setup.sh`` makes ``.venv-view``, or ``pip install -e '.[view]'``); run it under Xvfb:

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv-view/bin/python -m scripts.vsview_shots examples/hybrid.vpy OUT_DIR \\
        -a keys=keys.txt --props-frame 10 --add-frame 20

It builds vsview's own application and main window (as ``vsview SCRIPT`` does, without settings), then:
1. opens the tool docks with "AI ranges" in front, shows frame ``--props-frame`` and saves ``choice.png`` (the dock's choice box: path, model, computed/held);
2. reads what vsview's Frame Props tool shows in its "vsenhance" category (our formatters' texts) and saves
   ``frameprops.png``;
3. reads the timeline's notches and the dock's list, clicks the second range (a jump), shows ``--add-frame``
   and presses "Add this frame", then saves ``timeline.png``;
4. with ``--add-scene``, makes a scene of those ranges in vsview's Scening tool, selects it, and presses
   "Add Scening's scene";
5. writes ``result.json`` (what it read and did) and quits.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

LOAD_SECONDS = 90


def _settle(app, until=lambda: True, seconds: float = LOAD_SECONDS) -> bool:
    """Run vsview's event loop until ``until()`` holds (or ``seconds`` pass); then a little longer to paint."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and not until():
        app.processEvents()
        time.sleep(0.02)
    ok = until()
    for _ in range(10):
        app.processEvents()
        time.sleep(0.02)
    return ok


def drive(app, window, args: argparse.Namespace) -> dict:
    from PySide6.QtWidgets import QWidget

    from vsenhance.preview.vsview_plugin import NOTCHES, AIRangesPlugin, choice_rows

    window.load_new_script(Path(args.script), **dict(a.split("=", 1) for a in args.arg))
    plugins: list[AIRangesPlugin] = []

    def loaded() -> bool:
        plugins[:] = window.findChildren(AIRangesPlugin)  # the dock's and the panel's, both told of each frame
        try:
            return bool(plugins) and plugins[0].api.current_frame in plugins[0].api.current_voutput.props
        except Exception:  # vsview raises until a workspace has an output
            return False

    if not _settle(app, loaded):
        raise RuntimeError(f"vsview showed no frame of {args.script} with the AI ranges dock in {LOAD_SECONDS}s")
    window.stack.currentWidget().dock_toggle_btn.setChecked(True)  # vsview starts with its tool docks closed
    _settle(app, seconds=0)
    _raise_dock(window, lambda w: w in plugins)  # the docks are tabbed: bring ours to the front
    _settle(app, seconds=0)
    plugin = next((p for p in plugins if p.isVisible()), plugins[0])
    api = plugin.api

    def show(n: int) -> None:
        api.playback.seek(n)
        if not _settle(app, lambda: api.current_frame == n and n in api.current_voutput.props, 60):
            raise RuntimeError(f"vsview did not show frame {n}")
        plugin.refresh()
        _settle(app, seconds=0)

    result: dict = {"total_frames": api.current_voutput.vs_output.clip.num_frames, "dock_visible": plugin.isVisible()}
    show(args.props_frame)
    props = api.current_voutput.props[args.props_frame]
    result["props"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in props.items()
                       if k.startswith("VSEnhance") and isinstance(v, int | str | bytes)}  # fmt: skip
    result["choice"] = [[name, value] for name, value in choice_rows(props, args.props_frame)]
    window.grab().save(str(args.out / "choice.png"))
    frameprops = next(w for w in window.findChildren(QWidget) if _is_tool(w, "jet_vsview_frameprops"))
    _raise_dock(window, lambda w: w is frameprops)
    frameprops.formatted_toggle.setChecked(True)  # its "Formatted" column, where our formatters' texts are
    show(args.props_frame - 1)  # vsview tells a tool dock of frames only while it is in front
    show(args.props_frame)
    result["formatted"] = _frameprops_category(window, "vsenhance")
    window.grab().save(str(args.out / "frameprops.png"))
    _raise_dock(window, lambda w: w in plugins)

    timeline = api.timeline._TimelineProxy__timeline  # vsview keeps the widget private: its notches are read here
    result["notches"] = sorted([int(n.data), int(n.end_data), n.label] for n in timeline.custom_notches[NOTCHES])
    result["listed"] = [plugin.list.item(i).text() for i in range(plugin.list.count())]
    if plugin.list.count() > 1:
        plugin.jump(plugin.list.item(1))
        _settle(app, lambda: api.current_frame == int(result["notches"][1][0]), 60)
        result["after_click"] = int(api.current_frame)
    show(args.add_frame)
    plugin.add_frame()
    result["status"] = plugin.status.text()
    _settle(app, seconds=0.3)
    window.grab().save(str(args.out / "timeline.png"))
    if args.add_scene:
        _scening_scene(window, api, "chorus", args.add_scene)
        _settle(app, seconds=0.1)
        plugin.add_scene()
        result["scene_status"] = plugin.status.text()
    return result


def _is_tool(widget, identifier: str) -> bool:
    return getattr(type(widget), "identifier", None) == identifier


def _raise_dock(window, holds) -> None:
    """Bring to the front of its tabs the tool dock holding a widget for which ``holds(widget)``."""
    from PySide6.QtWidgets import QDockWidget, QWidget

    for dock in window.findChildren(QDockWidget):
        if holds(dock.widget()) or any(holds(w) for w in dock.findChildren(QWidget)):
            dock.raise_()


def _frameprops_category(window, category: str) -> dict[str, str]:
    """What vsview's Frame Props tool shows under ``category``: prop -> its "Formatted" column."""
    from vsview.app.tools.frameprops.plugin import FramePropsModel

    shown: dict[str, str] = {}
    for model in window.findChildren(FramePropsModel):
        if (item := model.category_items.get(category)) is not None:
            for row in range(item.rowCount()):
                shown[item.child(row, 0).text()] = item.child(row, FramePropsModel.FORMATTED_COLUMN).text()
    return shown


def _scening_scene(window, api, name: str, ranges: str) -> None:
    """A scene of ``ranges`` ("40-43,45": the output's frames) in vsview's Scening tool, selected, as a user
    makes one with its New Scene and Q/W/E keys."""
    from PySide6.QtWidgets import QWidget
    from vsview.app.tools.scening.models import RangeFrame, SceneRow

    from vsenhance.preview.vsview_plugin import SCENING

    tool = next(w for w in window.findChildren(QWidget) if _is_tool(w, SCENING) and w.api is api)
    pairs = [tuple(int(n) for n in part.split("-")) for part in ranges.split(",")]
    scene = SceneRow(color="#40a0e0", name=name, ranges=[RangeFrame(start=p[0], end=p[-1]) for p in pairs])
    tool.scenes_view.setCurrentIndex(tool.scenes_model.add_scene(scene))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("script")
    parser.add_argument("out", type=Path)
    parser.add_argument("--props-frame", type=int, default=0)
    parser.add_argument("--add-frame", type=int, default=0)
    parser.add_argument("--add-scene", default="", help='ranges of a Scening scene to append, e.g. "40-43,45"')
    parser.add_argument("-a", "--arg", action="append", default=[], help="key=value for the script (vsview -a)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    from vsview.app.main import Application, MainWindow
    from vsview.app.plugins.manager import PluginManager

    app = Application([sys.argv[0]], no_settings=True)
    PluginManager.load()
    window = MainWindow()
    window.resize(1600, 1000)
    window.show()
    try:
        PluginManager.wait_for_loaded()
        result = {"plugins": sorted(p.identifier for p in PluginManager.tooldocks), **drive(app, window, args)}
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    (args.out / "result.json").write_text(json.dumps(result, indent=1))
    window.close()
    app.quit()
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main())

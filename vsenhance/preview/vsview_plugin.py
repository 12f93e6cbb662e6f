"""vsview plugin: the AI ranges of an ``upscale_ranges`` output on the timeline and in a dock, into a range file;
and what the filter chose for the frame shown.

vsview finds it through the ``vsview`` entry point (``pip install 'vsenhance[view]'`` is the whole
installation). Everything comes from the props of the frame vsview has just shown (``api.current_voutput.props``,
which its own frame-props tool reads), so the plugin renders nothing of its own. The range logic is
:mod:`vsenhance.preview.timeline`'s, shared with the vs-preview plugin.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from vsview.api import PluginAPI, VideoOutputProxy, WidgetPluginBase, hookimpl, run_in_loop

from .timeline import append_range, choice_rows, hybrid_frame, output_ranges, range_line, ranges_file

__all__ = ["AIRangesPlugin", "choice_rows"]

AI_COLOUR = QColor(230, 80, 230)
NOTCHES = "vsenhance.ranges"
SCENING = "jet_vsview_scening"
"""vsview's Scening tool (its ``PLUGIN_IDENTIFIER``): the scene selected there is what "Add scene" appends."""


class AIRangesPlugin(WidgetPluginBase):
    identifier = "vsenhance_ranges"
    display_name = "AI ranges"

    def __init__(self, parent: QWidget, api: PluginAPI) -> None:
        super().__init__(parent, api)
        self.chosen_file: Path | None = None  # a file picked here wins over the clip's own
        self.marked: int | None = None  # a range's first frame, in the range file's numbering
        self.drawn: list[tuple[int, int]] = []  # the ranges the timeline shows

        self.heading = QLabel(self)
        self.list = QListWidget(self)
        self.list.itemActivated.connect(self.jump)
        self.list.itemClicked.connect(self.jump)
        self.choice = QFormLayout()
        self.file_label = QLabel(self)
        self.file_label.setWordWrap(True)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        choose = QPushButton("Range file…", self)
        choose.clicked.connect(self.choose_file)
        buttons = QHBoxLayout()
        for text, slot in (("Add this frame", self.add_frame), ("Mark start", self.mark_start),
                           ("Add start – this frame", self.add_marked_range),
                           ("Add Scening's scene", self.add_scene)):  # fmt: skip
            button = QPushButton(text, self)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        file_row = QHBoxLayout()
        file_row.addWidget(self.file_label, 1)
        file_row.addWidget(choose)
        layout = QVBoxLayout(self)
        layout.addLayout(self.choice)
        layout.addWidget(self.heading)
        layout.addWidget(self.list, 1)
        layout.addLayout(file_row)
        layout.addLayout(buttons)
        layout.addWidget(self.status)

    # what the output holds

    def props(self) -> Mapping[str, Any]:
        cache = self.api.current_voutput.props
        return cache.get(self.api.current_frame, {})

    def ranges(self) -> list[tuple[int, int]]:
        total = self.api.current_voutput.vs_output.clip.num_frames
        return output_ranges(self.props(), int(self.api.current_frame), total)

    def source_frame(self) -> int:
        return hybrid_frame(self.props(), int(self.api.current_frame))

    def target_file(self) -> Path | None:
        return self.chosen_file or ranges_file(self.props())

    # vsview's hooks

    def on_current_voutput_changed(self, voutput: VideoOutputProxy, tab_index: int) -> None:
        self.drawn = []
        super().on_current_voutput_changed(voutput, tab_index)

    def on_current_frame_changed(self, n: int) -> None:
        self.refresh()

    @run_in_loop(return_future=False)
    def refresh(self) -> None:
        ranges = self.ranges()
        if ranges != self.drawn:  # another output, or another piece of a splice
            self.api.timeline.clear_notches(NOTCHES, update=False)
            for first, last in ranges:
                self.api.timeline.add_notch(NOTCHES, [(first, last)], AI_COLOUR, f"AI {range_line(first, last)}",
                                            update=False)  # fmt: skip
            self.api.timeline.update()
            self.drawn = ranges
        self.list.clear()
        for first, last in ranges:
            item = QListWidgetItem(f"{range_line(first, last)}    ({last - first + 1} frames)")
            item.setData(Qt.ItemDataRole.UserRole, first)
            self.list.addItem(item)
        total = sum(last - first + 1 for first, last in ranges)
        self.heading.setText(f"{len(ranges)} AI ranges, {total} frames" if ranges
                             else "No AI ranges on this output (not an upscale_ranges clip)")  # fmt: skip
        while self.choice.rowCount():
            self.choice.removeRow(0)
        for name, value in choice_rows(self.props(), int(self.api.current_frame)):
            self.choice.addRow(name, QLabel(value, self))
        target = self.target_file()
        text = f"Range file: {target or 'none (choose one)'}"
        shift = self.source_frame() - int(self.api.current_frame)
        if shift:  # a trimmed output: the file counts the frames of the clip upscale_ranges was given
            text += f"  (its frame numbers: this output's {shift:+d})"
        if self.marked is not None:
            text += f"  start marked: {self.marked}"
        self.file_label.setText(text)

    # actions

    def jump(self, item: QListWidgetItem) -> None:
        self.api.playback.seek(int(item.data(Qt.ItemDataRole.UserRole)))

    def choose_file(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Range file", str(self.target_file() or "keys.txt"))
        if name:
            self.chosen_file = Path(name)
            self.refresh()

    def mark_start(self) -> None:
        self.marked = self.source_frame()
        self.refresh()

    def add_frame(self) -> None:
        n = self.source_frame()
        self.append((n, n))

    def add_marked_range(self) -> None:
        if self.marked is None:
            self.status.setText("Mark the range's first frame first")
            return
        self.append((self.marked, self.source_frame()))
        self.marked = None

    def add_scene(self) -> None:
        """Append every range of the scene selected in vsview's Scening tool, in the range file's numbering.

        vsview's plugin API gives no plugin another's state, so the Scening tool is found among the widgets of
        this workspace and read as its own Export does (its selected scene's ``ranges``, each ``as_frames``)."""
        tools = [w for w in self.window().findChildren(QWidget)
                 if getattr(type(w), "identifier", None) == SCENING and getattr(w, "api", None) is self.api]  # fmt: skip
        selected = [(tool, row) for tool in tools for row in tool.scenes_view.selectionModel().selectedRows()]
        if not selected:
            self.status.setText("Select a scene in the Scening tool first (View → Tool Docks → Scening)")
            return
        tool, row = selected[-1]
        scene = row.data(tool.scenes_model.SceneRowRole)
        shift = self.source_frame() - int(self.api.current_frame)  # the output's frame numbers -> the file's
        ranges = [tuple(n + shift for n in r.as_frames(self.api.current_voutput)) for r in scene.ranges]
        if not ranges:
            self.status.setText(f"Scene {scene.name!r} has no ranges")
            return
        if min(first for first, _ in ranges) < 0:
            self.status.setText(f"Scene {scene.name!r} starts before the upscale_ranges clip: nothing added")
            return
        self.append(*ranges, note=f"scene {scene.name}")

    def append(self, *ranges: tuple[int, int], note: str = "") -> None:
        target = self.target_file()
        if target is None:
            self.choose_file()
            if (target := self.target_file()) is None:
                return
        try:
            lines = [append_range(target, first, last, note) for first, last in ranges]
        except OSError as exc:
            self.status.setText(f"Cannot write {target}: {exc.strerror}")
            return
        added = ", ".join(line.split("#")[0].strip() for line in lines)
        self.status.setText(f"{target.name}: added {added}; reload the script to upscale it")
        self.refresh()


@hookimpl
def vsview_register_tooldock() -> type[WidgetPluginBase]:
    return AIRangesPlugin


@hookimpl
def vsview_register_toolpanel() -> type[WidgetPluginBase]:
    return AIRangesPlugin

"""Previewer integration, vsview (or vs-preview): the AI ranges on the timeline, what the filter chose, and
ranges added to the range file.

Nothing here is imported by the filters. vsview loads :mod:`.vsview_plugin` and :mod:`.vsview_frameprops` through
its entry points (the ``view`` extra); vs-preview 0.20 loads ``plugin/vsenhance_ranges.ppy`` once
``vsenhance preview-plugin install`` wrote its ``.pth`` (the ``preview`` extra). Both read :mod:`.timeline`.
"""

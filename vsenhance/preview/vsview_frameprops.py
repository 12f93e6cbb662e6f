"""vsview Frame Props formatters: our props in a "vsenhance" category, with their values in words.

vsview's Frame Props tool loads these through the ``vsview.frameprops`` entry point, as it does vsview's own
metrics formatters; the texts are :func:`vsenhance.preview.timeline.prop_formats`, shared with nothing Qt.
"""

from __future__ import annotations

from vsview.app.tools.frameprops.api import CategoryMatcher, FormatterProperty, hookimpl

from .timeline import prop_formats

CATEGORY = CategoryMatcher(name="vsenhance", priority=100, order=30, prefixes={"VSEnhance"})


@hookimpl
def vsview_frameprops_register_category_matchers() -> CategoryMatcher:
    return CATEGORY


@hookimpl
def vsview_frameprops_register_formatter_properties() -> list[FormatterProperty]:
    return [FormatterProperty(prop_key=key, value_formatter=text) for key, text in prop_formats().items()]

"""vs-preview integration: a timeline plugin for the AI ranges and the command that installs it.

Nothing here is imported by the filters; vs-preview loads the plugin (``plugin/vsenhance_ranges.ppy``), which
imports :mod:`.timeline`.
"""

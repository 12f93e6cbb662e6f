"""The only code that touches VideoFrame: frames <-> arrays, callbacks, prefetch.

It knows no model runtime: it uses only the torch-free specs of ``models.colour_spec``.
"""

"""The only code that touches VideoFrame: frames <-> arrays, callbacks, prefetch. Knows no models."""

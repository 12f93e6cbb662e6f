"""Public VapourSynth filters: clip first, keyword options."""

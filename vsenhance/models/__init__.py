"""Pure inference runtimes; never imports vapoursynth frames."""

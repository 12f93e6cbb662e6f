"""The encode farm's transport: long-lived render workers as local processes or Ray actors. Imports no torch.

:mod:`.protocol` is the one interface both pools implement and the scheduler speaks (:mod:`.wire` carries it as
JSON lines); :mod:`.worker` is the rendering process, :mod:`.local` and :mod:`.ray_pool` the two pools,
:mod:`.cpus` the CPU-only placement. docs/encode.md describes the farm for users.
"""

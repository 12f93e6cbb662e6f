"""``vsenhance encode``, ``estimate`` and ``cut``: resumable segments rendered by long-lived workers into ffmpeg.

The rooms: :mod:`.job` (one encode, as named steps) drives :mod:`.scheduler` (the queue, retries, the driver's
check of each segment) over a pool from :mod:`.farm` (local processes or Ray actors, speaking
:mod:`.farm.protocol`); :mod:`.plan` (segments, fingerprint) and :mod:`.state` (the files beside the output)
are the job's memory; :mod:`.encoder` is the ffmpeg command line, :mod:`.colour_tags` the clip's colour
description, :mod:`.audio` and :mod:`.concat` the join. Imports no torch.
"""

"""The encode farm: one driver, long-lived render workers (local processes or Ray actors). Imports no torch.

See ``protocol.py`` for the one interface both transports implement, and ``../shared/design/farm.md``.
"""

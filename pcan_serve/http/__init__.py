"""The BentoML HTTP service (``service``), its form parsing, settings and model store, and a launcher for a
local server (tests, benchmarks). Importing this package imports none of them: the service module loads
BentoML and reads its settings at import time."""

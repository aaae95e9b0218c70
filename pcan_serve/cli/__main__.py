"""`python -m pcan_serve.cli ...` = the `pcan` command (used to start servers from tests and benchmarks)."""

from . import main

main()

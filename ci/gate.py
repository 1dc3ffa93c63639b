#!/usr/bin/env python3
"""Kept for CI configurations that still call `python ci/gate.py ...`: it is `mfm-sim gate`."""

import sys

from mfm_sim.cli.main import main

if __name__ == "__main__":
    main(["gate", *sys.argv[1:]])

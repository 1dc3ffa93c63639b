"""`python -m mfm_sim ...` is `mfm-sim ...` (for tools that wrap an interpreter, like coverage)."""

from mfm_sim.cli.main import main

if __name__ == "__main__":
    main()

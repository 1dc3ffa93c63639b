"""Worked examples of validating handlers with mfm-sim (see docs/library-users.md)."""

"""Worked examples of validating handlers with mfm-sim, shipped with the package so that the
README's walkthrough runs from a plain `pip install mfm-sim` (see docs/library-users.md).

- `payments`: a payments plan whose charge handler is not crash-safe, and its fix;
- `test_payments`: the README's ten-line test of it;
- `python -m mfm_sim.examples [pytest options]` runs that test file with pytest.
"""

__all__: list[str] = []

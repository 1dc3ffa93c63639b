"""`python -m mfm_sim.examples [pytest options]`: run the README's ten-line test with pytest.

The test file ships inside the package, so this works from any directory after a plain
`pip install mfm-sim`; options pass through (`--mfm-seeds 1000`, `--runxfail`, `-k fix`).
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["TEST_FILE", "main"]

TEST_FILE = Path(__file__).with_name("test_payments.py")


def main(argv: list[str] | None = None) -> int:
    import pytest

    args = list(sys.argv[1:] if argv is None else argv)
    # The rootdir is the package's folder, so node ids read `test_payments.py::...`; saved
    # failures go to the current directory's `.mfm-sim/`, never into site-packages.
    saved = Path.cwd() / ".mfm-sim"
    return int(
        pytest.main(
            [
                str(TEST_FILE),
                "--rootdir",
                str(TEST_FILE.parent),
                "-p",
                "no:cacheprovider",
                "-o",
                f"mfm_sim_dir={saved}",
                *args,
            ]
        )
    )


if __name__ == "__main__":
    sys.exit(main())

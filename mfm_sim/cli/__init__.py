"""The `mfm-sim` command line: click commands only; the work is done by the layers below."""

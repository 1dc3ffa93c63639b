"""The built-in scenarios draw their run-config knobs with the harness's drawer."""

from mfm_sim.run.knobs import PROFILES, draw_run_config

__all__ = ["PROFILES", "draw_run_config"]

"""Many schedules: the sweep over seeds and scenarios (`sweep`), shrinking a failure
(`shrink`), systematic crash points (`crash_points`), the determinism check (`determinism`),
the failure database (`faildb`) and coverage of recovery paths (`coverage`).
"""

"""The simulated world: seeded randomness, virtual time, a deterministic event loop, the
sources the engine is given, which handler is running, the strict guard, and whose code a frame
runs. The bottom layer: it imports nothing else of mfm_sim.
"""

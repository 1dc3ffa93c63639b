"""The fault model: the fault-kind table (`kinds`), the swarm draw (`swarm`), the injector
that decides every fault point (`injector`), and the wrappers where faults land: stores
(`stores`), handlers and the plan resolver (`handlers`), transports (`transports`), users' own
fault points (`buggify`). Imports only `mfm_sim.world`.
"""

"""The oracle's own reading of ENGINE.md: what a correct engine computes, written here from the
spec alone so that a check never asks the engine under test for the right answer.

One module per rule: `canonical` (canonical JSON, artifact ids, decoding), `backoff` (a retry
policy's delay), `order` (Kahn plan order, predecessors), `secrets` (secret detection and error
redaction), `facts` (derived fact keys, how fact records bind keys), `envelopes` (walking a
stream's attempts), `phases` (a run status's phase) and `refusals` (a plan refusal's category
and retryable flag, as the seed builds them). They import engine data types only;
`tests/mfm_sim/invariants/test_oracle_imports.py` enforces it.
"""

__all__: list[str] = []

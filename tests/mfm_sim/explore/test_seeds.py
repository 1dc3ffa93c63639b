"""mfm_sim.explore.seeds: a lazy span of u64 seeds, usable where a `range` would overflow."""

from __future__ import annotations

import sys

import pytest

from mfm_sim.explore.seeds import SEED_SPACE, SeedSpan


def test_the_whole_seed_space_is_a_sequence() -> None:
    span = SeedSpan(range(SEED_SPACE))
    with pytest.raises(OverflowError):
        len(range(SEED_SPACE))  # why the span exists
    assert span.count == SEED_SPACE
    assert len(span) == sys.maxsize
    assert span[0] == 0 and span[-1] == SEED_SPACE - 1
    assert list(span[5:8]) == [5, 6, 7]
    assert span[2::3][1] == 5
    assert bool(span) and not SeedSpan(range(4, 4))


def test_small_spans_behave_like_their_range() -> None:
    span = SeedSpan(range(3, 9))
    assert (len(span), list(span), span.count) == (6, [3, 4, 5, 6, 7, 8], 6)
    assert list(span[1::2]) == [4, 6, 8]
    with pytest.raises(IndexError):
        span[6]


def test_the_sweep_counts_a_span_past_sys_maxsize_exactly() -> None:
    from mfm_sim.explore.sweep import seed_count

    span = SeedSpan(range(0, SEED_SPACE))
    assert len(span) < SEED_SPACE  # len() cannot say it ...
    assert seed_count(span) == SEED_SPACE  # ... the sweep's count does

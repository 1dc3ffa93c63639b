"""Deliberately broken engine variants: the bugs a sweep must catch (checks must be able to fail).

A variant is a context manager that patches the engine's internals for the duration of one
simulation; the engine's source stays untouched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import ContextManager

import attrs


@attrs.frozen
class Variant:
    name: str
    description: str
    patch: Callable[[], ContextManager[None]]


VARIANTS: dict[str, Variant] = {}


def register(name: str, description: str) -> Callable[[Callable[[], ContextManager[None]]], Callable[[], ContextManager[None]]]:
    def deco(fn: Callable[[], ContextManager[None]]) -> Callable[[], ContextManager[None]]:
        VARIANTS[name] = Variant(name, description, fn)
        return fn

    return deco


class UnknownVariant(ValueError):
    pass


@contextlib.contextmanager
def variant_context(name: str | None) -> Iterator[None]:
    if name is None:
        yield
        return
    variant = VARIANTS.get(name)
    if variant is None:
        known = ", ".join(sorted(VARIANTS))
        raise UnknownVariant(f"unknown engine variant {name!r}; known: {known}")
    with variant.patch():
        yield

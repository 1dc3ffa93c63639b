"""The harness checks itself: deliberately broken engine variants, each a small patch of
one engine function through one seam (`variants`, `patch`), and the bench (`bench`).
"""

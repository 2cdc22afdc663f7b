"""Levenshtein distance between two short strings (codes, names, month words)."""

from __future__ import annotations


def edit_distance(a: str, b: str) -> int:
    """A dropped, extra or misread character each count one."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]

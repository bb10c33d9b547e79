"""The walkthrough's chapters, in order. A chapter is a number, a title and ``run(ctx)``.

To add one: write ``shop/walkthrough/chapterN.py`` with ``TITLE``, ``LEAD`` and ``run(ctx)``,
and append it to ``CHAPTERS`` below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shop.walkthrough import chapter1
from shop.walkthrough.context import Context


@dataclass(frozen=True)
class Chapter:
    number: int
    title: str
    run: Callable[[Context], None]
    lead: str = ""  # one or two sentences shown under the chapter's title
    needs_workers: bool = True  # False: the chapter starts (or avoids) workers itself


CHAPTERS: list[Chapter] = [
    Chapter(1, chapter1.TITLE, chapter1.run, chapter1.LEAD),
]


def numbers() -> list[int]:
    return [c.number for c in CHAPTERS]


def get(number: int) -> Chapter:
    for chapter in CHAPTERS:
        if chapter.number == number:
            return chapter
    raise LookupError(f"there is no chapter {number}; chapters: {', '.join(map(str, numbers()))}")

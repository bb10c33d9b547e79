"""The walkthrough's chapters, in order. A chapter is a number, a title and ``run(ctx)``.

To add one: write ``lesson/walkthrough/chapterN.py`` with ``TITLE``, ``LEAD`` and ``run(ctx)``,
and append it to ``CHAPTERS`` below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lesson.walkthrough import chapter1, chapter2, chapter3, chapter4, chapter5, chapter6, chapter7, chapter8
from lesson.walkthrough.context import Context


@dataclass(frozen=True)
class Chapter:
    number: int
    title: str
    run: Callable[[Context], None]
    lead: str = ""  # one or two sentences shown under the chapter's title
    needs_workers: bool = True  # False: the chapter starts (or avoids) workers itself


CHAPTERS: list[Chapter] = [
    Chapter(1, chapter1.TITLE, chapter1.run, chapter1.LEAD),
    Chapter(2, chapter2.TITLE, chapter2.run, chapter2.LEAD),
    Chapter(3, chapter3.TITLE, chapter3.run, chapter3.LEAD),
    Chapter(4, chapter4.TITLE, chapter4.run, chapter4.LEAD),
    Chapter(5, chapter5.TITLE, chapter5.run, chapter5.LEAD),
    Chapter(6, chapter6.TITLE, chapter6.run, chapter6.LEAD),
    Chapter(7, chapter7.TITLE, chapter7.run, chapter7.LEAD),
    Chapter(8, chapter8.TITLE, chapter8.run, chapter8.LEAD),
]


def numbers() -> list[int]:
    return [c.number for c in CHAPTERS]


def get(number: int) -> Chapter:
    for chapter in CHAPTERS:
        if chapter.number == number:
            return chapter
    raise LookupError(f"there is no chapter {number}; chapters: {', '.join(map(str, numbers()))}")

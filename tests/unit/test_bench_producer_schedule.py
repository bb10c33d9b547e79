"""The producer-cost bench measures every consumer count in every round, the order rotated, so a
drift of the run falls on every count alike (bench/producer_cost.py ``schedule``)."""

from collections import Counter

from bench.producer_cost import COUNTS, schedule


def test_every_count_gets_the_same_orders_in_every_round() -> None:
    blocks = schedule(200, 8)
    assert len(blocks) == 8 * len(COUNTS)
    placed = Counter[int]()
    for count, size in blocks:
        placed[count] += size
    assert placed == dict.fromkeys(COUNTS, 200)


def test_each_round_starts_with_another_count() -> None:
    blocks = schedule(40, 4)
    firsts = [blocks[r * len(COUNTS)][0] for r in range(4)]
    assert sorted(firsts) == sorted(COUNTS)
    for r in range(4):
        assert sorted(c for c, _ in blocks[r * len(COUNTS) : (r + 1) * len(COUNTS)]) == sorted(COUNTS)


def test_orders_that_do_not_divide_evenly_are_all_placed() -> None:
    blocks = schedule(10, 4)
    assert sum(size for _, size in blocks) == 10 * len(COUNTS)
    assert all(size > 0 for _, size in blocks)

"""Group commit: writers paced apart still share a write when the group lingers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from messaging.group_commit import GroupCommit


def _writes(linger: float, gap: float, items: int = 5) -> list[list[int]]:
    writes: list[list[int]] = []

    def write(group: Sequence[int]) -> None:
        writes.append(list(group))

    async def main() -> None:
        commit = GroupCommit[int](write, linger=linger)

        async def writer(i: int) -> bool:
            await asyncio.sleep(i * gap)
            return await commit.add(i)

        assert all(await asyncio.gather(*(writer(i) for i in range(items))))

    asyncio.run(main())
    return writes


def test_writers_paced_apart_share_a_lingering_group() -> None:
    assert _writes(linger=0.5, gap=0.01) == [[0, 1, 2, 3, 4]]


def test_without_linger_each_paced_writer_is_written_at_once() -> None:
    assert len(_writes(linger=0.0, gap=0.05)) == 5


def test_flush_ends_a_lingering_group_at_once() -> None:
    written: list[int] = []

    async def main() -> float:
        commit = GroupCommit[int](lambda group: written.extend(group), linger=30.0)
        commit.submit(1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await commit.flush()
        return loop.time() - started

    assert asyncio.run(main()) < 5.0
    assert written == [1]

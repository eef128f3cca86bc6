"""The ack deadline and shedding, with real tasks and a real clock (short deadlines)."""

from __future__ import annotations

import asyncio

from app.web.admission import Admission


async def test_work_done_in_time_is_answered() -> None:
    admission = Admission(deadline_seconds=1.0, max_in_flight=4)

    async def quick() -> str:
        return "stored"

    assert await admission.run(quick()) == "stored"
    assert admission.in_flight == 0


async def test_work_past_the_deadline_is_answered_busy_and_still_finishes() -> None:
    admission = Admission(deadline_seconds=0.05, max_in_flight=4)
    finished = asyncio.Event()

    async def slow() -> str:
        await asyncio.sleep(0.2)
        finished.set()
        return "stored"

    assert await admission.run(slow()) is None
    assert admission.in_flight == 1
    await asyncio.wait_for(finished.wait(), 2)
    await asyncio.sleep(0)
    assert admission.in_flight == 0


async def test_past_the_limit_work_is_shed_without_running() -> None:
    admission = Admission(deadline_seconds=0.01, max_in_flight=1)
    release = asyncio.Event()
    ran: list[str] = []

    async def blocked(name: str) -> str:
        ran.append(name)
        await release.wait()
        return name

    assert await admission.run(blocked("first")) is None  # past its deadline, still running
    assert admission.full
    assert await admission.run(blocked("second")) is None  # shed
    release.set()
    await asyncio.sleep(0.01)
    assert ran == ["first"] and admission.in_flight == 0 and not admission.full


async def test_an_error_in_time_reaches_the_request() -> None:
    admission = Admission(deadline_seconds=1.0, max_in_flight=4)

    async def broken() -> str:
        raise RuntimeError("database unavailable")

    try:
        await admission.run(broken())
    except RuntimeError as exc:
        assert str(exc) == "database unavailable"
    else:
        raise AssertionError("the error was swallowed")


async def test_a_request_that_gives_up_leaves_the_work_to_finish() -> None:
    admission = Admission(deadline_seconds=5.0, max_in_flight=4)
    finished = asyncio.Event()

    async def slow() -> str:
        await asyncio.sleep(0.05)
        finished.set()
        return "stored"

    waiting = asyncio.create_task(admission.run(slow()))
    await asyncio.sleep(0.01)
    waiting.cancel()
    await asyncio.wait_for(finished.wait(), 2)
    assert waiting.cancelled()

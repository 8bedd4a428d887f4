"""aexec, aeval and acall: runs awaited by asyncio tasks."""

import asyncio

import pytest

import isolate_wasm as iso


def test_runs_are_awaited_and_overlap():
    async def main():
        interps = [iso.create() for _ in range(3)]
        for interp in interps:
            await interp.aexec("import time\ndef slow(x):\n    time.sleep(0.3)\n    return x * 2")
        results = await asyncio.gather(*(interp.acall("slow", n) for n, interp in enumerate(interps)))
        assert results == [0, 2, 4]
        assert await interps[0].aeval("1 + 1") == 2
        with pytest.raises(iso.ExecutionFailed):
            await interps[0].aexec("1 / 0")

    asyncio.run(main())


def test_cancelling_the_task_cancels_the_run():
    async def main():
        interp = iso.create()
        task = asyncio.ensure_future(interp.aexec("while True:\n    pass"))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(iso.Cancelled):
            interp.exec("x = 1")
        # The loop and other interpreters go on.
        assert await iso.create().aeval("6 * 7") == 42

    asyncio.run(asyncio.wait_for(main(), timeout=30))

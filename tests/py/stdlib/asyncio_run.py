# stdout: ['a', 'b', 'c']
# stdout: [1, 2, 3]
import asyncio


async def echo(value):
    await asyncio.sleep(0)
    return value


async def main():
    return await asyncio.gather(echo("a"), echo("b"), echo("c"))


print(asyncio.run(main()))


async def ticker():
    seen = []
    async def tick(n):
        await asyncio.sleep(0.01 * n)
        seen.append(n)
    await asyncio.wait_for(asyncio.gather(*(tick(n) for n in (3, 1, 2))), timeout=5)
    return seen


print(asyncio.run(ticker()))

# stdout: ['a', 'b', 'c']
import asyncio


async def echo(value):
    await asyncio.sleep(0)
    return value


async def main():
    return await asyncio.gather(echo("a"), echo("b"), echo("c"))


print(asyncio.run(main()))

"""Drives `isolate mcp --http` with the official Python MCP SDK's streamable
HTTP client (tests/all/mcp.rs runs it): `python http_client.py URL`."""

import asyncio
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def main(url):
    async with streamable_http_client(url) as streams, ClientSession(streams[0], streams[1]) as client:
        await client.initialize()
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "run_python" in names and "fork_session" in names, names
        result = await client.call_tool("run_python", {"code": "import sys\nprint('over http')\nsum(range(10))"})
        out = result.structured_content
        assert not result.is_error and out["stdout"] == "over http\n" and out["result"]["json"] == 45, result
        result = await client.call_tool("fork_session", {"session": out["session"]})
        assert not result.is_error and result.structured_content["session"] != out["session"], result
    print("mcp http client: all checks passed")


asyncio.run(main(sys.argv[1]))

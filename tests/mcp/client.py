"""Drives `isolate mcp` with the official Python MCP SDK's client, as an
agent host would (tests/all/mcp.rs runs it): `python client.py ISOLATE`."""

import asyncio
import base64
import struct
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError


async def call(client, tool, **arguments):
    result = await client.call_tool(tool, arguments)
    return result.is_error, result.structured_content


async def main(isolate):
    server = StdioServerParameters(command=isolate, args=["mcp", "--timeout", "3s", "--max-sessions", "4"])
    async with stdio_client(server) as (read, write), ClientSession(read, write) as client:
        info = await client.initialize()
        assert info.server_info.name == "isolate", info.server_info

        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == {"run_python", "fork_session", "reset_session", "close_session", "list_sessions"}, tools
        assert tools["run_python"].input_schema["required"] == ["code"], tools["run_python"].input_schema

        # A new session; its output, its last value as repr and JSON.
        failed, out = await call(client, "run_python", code="import numpy as np\nprint('hi')\nx = np.arange(4)\nx.sum()")
        assert not failed and out["stdout"] == "hi\n" and out["result"]["json"] == 6, out
        first = out["session"]
        failed, out = await call(client, "run_python", code="{'n': int(x[-1]), 'twice': [1, 2] * 2}", session=first)
        assert out["result"]["json"] == {"n": 3, "twice": [1, 2, 1, 2]}, out
        failed, out = await call(client, "run_python", code="x = 'changed'", session=first)
        assert not failed and out["result"] is None, out

        # A fork is a copy that goes its own way.
        failed, out = await call(client, "fork_session", session=first)
        fork = out["session"]
        assert fork != first
        await call(client, "run_python", code="x = 'in the fork'", session=fork)
        _, out = await call(client, "run_python", code="x", session=first)
        assert out["result"]["json"] == "changed", out
        _, out = await call(client, "run_python", code="x", session=fork)
        assert out["result"]["json"] == "in the fork", out

        # An exception: CPython's traceback, with the cell's lines; the session goes on.
        failed, out = await call(client, "run_python", code="def f():\n    return 1 / 0\nf()", session=first)
        assert failed and out["error"]["type"] == "ZeroDivisionError", out
        traceback = out["error"]["traceback"]
        assert traceback.startswith("Traceback (most recent call last):") and "return 1 / 0" in traceback, traceback
        assert "isolate" not in traceback, traceback
        _, out = await call(client, "run_python", code="x", session=first)
        assert out["result"]["json"] == "changed", out

        # Figures left open, shown or not, come back as PNG images.
        result = await client.call_tool("run_python", {"session": first, "code": (
            "import matplotlib.pyplot as plt\n"
            "plt.figure(figsize=(4, 3), dpi=100)\nplt.plot([1, 3, 2])\nplt.show()\n"
            "fig, ax = plt.subplots(figsize=(2, 2), dpi=50)\nax.bar([1, 2], [3, 4])"
        )})
        assert not result.is_error and result.structured_content["figures"] == 2, result
        assert result.structured_content["stderr"] == "", result.structured_content
        images = [item for item in result.content if item.type == "image"]
        sizes = []
        for image in images:
            assert image.mime_type == "image/png", image.mime_type
            png = base64.b64decode(image.data)
            assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR", png[:16]
            sizes.append(struct.unpack(">II", png[16:24]))
        assert sizes == [(400, 300), (100, 100)], sizes
        # Shown once: the next call has none.
        result = await client.call_tool("run_python", {"session": first, "code": "len(plt.get_fignums())"})
        assert result.structured_content["result"]["json"] == 0 and result.structured_content["figures"] == 0, result

        # The time limit ends the session, and says so.
        failed, out = await call(client, "run_python", code="while True: pass", session=fork)
        assert failed and out["session_ended"] and "time limit" in out["error"]["message"], out
        _, out = await call(client, "list_sessions")
        assert fork not in out["sessions"] and first in out["sessions"], out

        # Reset: the same id, nothing of before.
        await call(client, "reset_session", session=first)
        failed, out = await call(client, "run_python", code="'x' in globals()", session=first)
        assert out["result"]["json"] is False, out

        # Bad input never ends the server. An unknown session is a protocol
        # error; arguments that do not fit the tool's schema are a tool error
        # that says why (the SDK's choice, as the MCP specification asks, so
        # that a model can correct its call).
        for tool, arguments in [
            ("run_python", {"code": "1", "session": "no-such-session"}),
            ("fork_session", {"session": "no-such-session"}),
            ("reset_session", {"session": "no-such-session"}),
            ("close_session", {"session": "no-such-session"}),
        ]:
            try:
                result = await client.call_tool(tool, arguments)
            except MCPError as error:
                assert error.error.code == -32602 and "no-such-session" in error.error.message, error.error
            else:
                raise AssertionError(f"{tool}({arguments}) answered {result}")
        for arguments, says in [({"code": 42}, "expected a string"), ({}, "missing field `code`")]:
            result = await client.call_tool("run_python", arguments)
            assert result.is_error and says in result.content[0].text, (arguments, result)
        try:
            await client.call_tool("no_such_tool", {})
        except MCPError as error:
            assert error.error.code in (-32601, -32602), error.error
        else:
            raise AssertionError("an unknown tool answered")

        # The cap on sessions.
        opened = []
        while True:
            try:
                failed, out = await call(client, "run_python", code="1")
            except MCPError as error:
                assert "sessions are open" in error.error.message, error.error
                break
            opened.append(out["session"])
            assert len(opened) <= 4, opened
        for id in opened + [first]:
            failed, out = await call(client, "close_session", session=id)
            assert out["closed"], out
        _, out = await call(client, "list_sessions")
        assert out["sessions"] == [], out
    print("mcp client: all checks passed")


asyncio.run(main(sys.argv[1]))

"""The peer of benches/mcp.rs: an MCP server on stdio built with the
official Python SDK (`MCPServer`), whose `run_python` evaluates code in
this process, unsandboxed: what an MCP round trip costs with nothing
between the protocol and Python."""

from mcp.server.mcpserver import MCPServer

server = MCPServer("native-python")
namespace: dict = {}


@server.tool()
def run_python(code: str) -> str:
    """Evaluates `code` (an expression) natively; returns its repr."""
    return repr(eval(code, namespace))


if __name__ == "__main__":
    server.run()

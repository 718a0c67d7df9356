"""Tool calls over the bus (PROTOCOL.md §15): calling ``tool`` of the tool server ``server`` is a
request of type ``tool.<server>.<tool>`` whose payload is the arguments object; the server
answers with a ``tool.result`` reply (the MCP CallToolResult). The verifier checks the arguments
against the tool's pinned input schema and the caller's ``tools:`` policy; a refusal is the
usual RejectedError, a result with ``isError: true`` a ToolError."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .constants import TOOL_NAME_RE, is_agent_id
from .errors import ContractError, ToolError
from .reasons import Reason

if TYPE_CHECKING:
    from .client import AgentClient

TOOL_RESULT_TYPE = "tool.result"
DEFAULT_TOOL_CALL_TIMEOUT_S = 30.0


def tool_type(server: str, tool: str) -> str:
    return f"tool.{server}.{tool}"


def result_text(result: dict[str, Any]) -> str:
    """The text blocks of a result, joined."""
    return "\n".join(
        c["text"] for c in result.get("content", []) if isinstance(c, dict) and c.get("type") == "text" and isinstance(c.get("text"), str)
    )


async def call_tool(
    client: AgentClient, server: str, tool: str, args: dict[str, Any], *, timeout: float = DEFAULT_TOOL_CALL_TIMEOUT_S, approval_wait: float | None = None
) -> dict[str, Any]:
    type = tool_type(server, tool)
    if not is_agent_id(server):
        raise ContractError(Reason.UNKNOWN_RECIPIENT, type, f"tool server {server!r} is not an agent id")
    if TOOL_NAME_RE.fullmatch(tool) is None:
        raise ContractError(Reason.UNKNOWN_TYPE, type, f"tool {tool!r} cannot be called on the bus (tool names match {TOOL_NAME_RE.pattern})")
    if not isinstance(args, dict):
        raise ContractError(Reason.SCHEMA_INVALID, type, "tool arguments must be a JSON object")
    answer = await client.request(server, type, args, timeout=timeout, approval_wait=approval_wait if approval_wait is not None else timeout)
    if answer.type != TOOL_RESULT_TYPE:
        raise ContractError(Reason.UNKNOWN_TYPE, answer.type, f"{server} answered {type} with {answer.type}, not {TOOL_RESULT_TYPE}")
    result: dict[str, Any] = answer.payload
    if result.get("isError"):
        raise ToolError(server, tool, result, answer.msg_id, result_text(result))
    return result

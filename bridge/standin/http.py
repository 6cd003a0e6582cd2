"""The stand-in's HTTP/1.1 plumbing: answers, problem+json bodies, reading and writing with h11."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.client import responses
from typing import Any

import h11
import msgspec

MAX_BODY = 1024 * 1024
READ_SIZE = 65536
encode = msgspec.json.Encoder().encode


@dataclass(slots=True)
class Answer:
    """One HTTP answer to send."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


def problem(status: int, detail: str, instance: str) -> Answer:
    """A problem+json answer, shaped like the CAD's errors."""
    body = {
        "type": f"https://httpstatuses.io/{status}",
        "title": responses.get(status, ""),
        "status": status,
        "detail": detail,
        "instance": instance,
        "traceId": uuid.uuid4().hex,
    }
    return Answer(status, encode(body), "application/problem+json")


def rate_limited(retry_after: float | datetime | str | None) -> Answer:
    """The gateway's 429, with Retry-After in seconds, as an HTTP date, verbatim, or absent."""
    answer = Answer(
        429, encode({"message": "API rate limit exceeded", "request_id": uuid.uuid4().hex})
    )
    if isinstance(retry_after, datetime):
        retry_after = format_datetime(retry_after.astimezone(UTC), usegmt=True)
    if retry_after is not None:
        answer.headers.append(("Retry-After", str(retry_after)))
    return answer


async def next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
    """The next h11 event, reading from the socket as needed."""
    while (event := conn.next_event()) is h11.NEED_DATA:
        conn.receive_data(await reader.read(READ_SIZE))
    return event


async def read_body(
    conn: h11.Connection, reader: asyncio.StreamReader, path: str
) -> bytes | Answer:
    """The request body, or a 413 answer past MAX_BODY."""
    chunks, size = list[bytes](), 0
    while isinstance(event := await next_event(conn, reader), h11.Data):
        size += len(event.data)
        if size > MAX_BODY:
            return problem(413, f"Body over {MAX_BODY} bytes", path)
        chunks.append(event.data)
    if not isinstance(event, h11.EndOfMessage):
        raise ConnectionError("client closed mid-request")
    return b"".join(chunks)


async def send(conn: h11.Connection, writer: asyncio.StreamWriter, answer: Answer) -> None:
    """Write one answer."""
    headers = [
        ("Content-Type", answer.content_type),
        ("Content-Length", str(len(answer.body))),
        *answer.headers,
    ]
    head = h11.Response(
        status_code=answer.status, headers=headers, reason=responses.get(answer.status, "").encode()
    )
    for event in (head, h11.Data(data=answer.body), h11.EndOfMessage()):
        writer.write(conn.send(event) or b"")
    await writer.drain()

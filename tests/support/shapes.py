"""Response shapes every service shares: RFC 9457 problem+json errors."""

from __future__ import annotations


def assert_problem(response, status: int, code: str) -> dict:
    """The response is RFC 9457 problem+json with this status and code."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json"), response["Content-Type"]
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["type"].endswith(code)
    assert body["title"] and body["detail"]
    return body

"""One data set and the exact bodies the monolith answers for it: the service must answer the
same (tests/monolith/notifications/test_shapes.py holds the monolith to it). Plain data: both
suites import it, whichever Django project is loaded."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# the caller's notifications, oldest first; `read_at` None is unread
DATASET: list[dict[str, Any]] = [
    {
        "kind": "order_placed",
        "order_id": 11,
        "title": "Order 11 placed",
        "body": "We received your order 11 (9.00 EUR).",
        "created_at": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        "read_at": datetime(2026, 3, 1, 13, 30, tzinfo=UTC),
    },
    {
        "kind": "order_confirmed",
        "order_id": 11,
        "title": "Order 11 confirmed",
        "body": "Your order 11 is confirmed.",
        "created_at": datetime(2026, 3, 2, 8, 0, 0, 123456, tzinfo=UTC),
        "read_at": None,
    },
    {
        "kind": "order_cancelled",
        "order_id": 12,
        "title": "Order 12 cancelled",
        "body": "Your order 12 was cancelled: out of stock.",
        "created_at": datetime(2026, 3, 3, 9, 0, tzinfo=UTC),
        "read_at": None,
    },
]

# GET /api/v1/notifications/?page_size=2, then ?unread=true; ids replaced by their row's index
EXPECTED_FIRST_PAGE = {
    "count": 3,
    "next": "http://testserver/api/v1/notifications/?page=2&page_size=2",
    "previous": None,
    "results": [
        {
            "id": 2,
            "kind": "order_cancelled",
            "title": "Order 12 cancelled",
            "body": "Your order 12 was cancelled: out of stock.",
            "order_id": 12,
            "is_read": False,
            "read_at": None,
            "created_at": "2026-03-03T09:00:00Z",
        },
        {
            "id": 1,
            "kind": "order_confirmed",
            "title": "Order 11 confirmed",
            "body": "Your order 11 is confirmed.",
            "order_id": 11,
            "is_read": False,
            "read_at": None,
            "created_at": "2026-03-02T08:00:00.123456Z",
        },
    ],
}
EXPECTED_READ = {
    "id": 0,
    "kind": "order_placed",
    "title": "Order 11 placed",
    "body": "We received your order 11 (9.00 EUR).",
    "order_id": 11,
    "is_read": True,
    "read_at": "2026-03-01T13:30:00Z",
    "created_at": "2026-03-01T12:00:00Z",
}
EXPECTED_UNREAD_COUNT = 2


def normalised(body: Any, ids: list[int]) -> Any:
    """`body` with each notification id replaced by its DATASET index (ids differ per side)."""
    if isinstance(body, list):
        return [normalised(item, ids) for item in body]
    if isinstance(body, dict):
        out = {key: normalised(value, ids) for key, value in body.items()}
        if "id" in out and "kind" in out:
            out["id"] = ids.index(body["id"])
        return out
    return body


def assert_same_shapes(client, ids: list[int]) -> None:
    """`client` is the caller's; `ids` the rows made from DATASET, in order. The first is read."""
    first_page = client.get("/api/v1/notifications/", {"page_size": 2})
    assert first_page.status_code == 200
    assert normalised(first_page.json(), ids) == EXPECTED_FIRST_PAGE
    unread = client.get("/api/v1/notifications/", {"unread": "true"}).json()
    assert unread["count"] == EXPECTED_UNREAD_COUNT
    read_only = client.get("/api/v1/notifications/", {"unread": "false"}).json()
    assert normalised(read_only["results"], ids) == [EXPECTED_READ]
    bad = client.get("/api/v1/notifications/", {"unread": "perhaps"})
    assert bad.status_code == 400 and bad["Content-Type"].startswith("application/problem+json")
    assert [e["field"] for e in bad.json()["errors"]] == ["unread"]
    missing = client.post("/api/v1/notifications/999999/read/")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"

"""The events every implementation is fed (with duplicates and reorders) and the reads they are
asked, answered the same way by the Python catalog service and by each other implementation."""

from __future__ import annotations

import base64
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field

from contracts.catalog import (
    CategoryCreatedV1,
    ProductCreatedV1,
    ProductPriceChangedV1,
    ProductUpdatedV1,
    StockChangedV2,
)
from servicekit.events.envelope import Envelope, now_utc

CATEGORIES = {"coffee": "Coffee", "kitchen": "Kitchen", "garden": "Garden & Café"}
NAMES = ["Kettle", "Crème grinder", "100% arabica", "Pour_over stand", "Teapot", "Mug \u2028 set"]


class Stream:
    """Envelopes with gap-free sequences per aggregate, in the order they were made."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self._last: dict[tuple[str, str], int] = {}

    def add(self, event) -> Envelope:
        key = (event.aggregate_type, event.aggregate_id)
        self._last[key] = self._last.get(key, 0) + 1
        envelope = Envelope(
            event_id=uuid.uuid4(),
            event_type=event.event_type,
            aggregate_type=event.aggregate_type,
            aggregate_id=event.aggregate_id,
            sequence=self._last[key],
            occurred_at=now_utc(),
            origin="monolith",
            payload=event.to_payload(),
        )
        self.envelopes.append(envelope)
        return envelope


def product_created(sku: str, index: int, category: str, **overrides) -> ProductCreatedV1:
    fields = {
        "sku": sku,
        "name": f"{NAMES[index % len(NAMES)]} {index:02d}",
        "description": "A kettle that whistles." if index % 7 == 0 else f"Item number {index}.",
        "category": category,
        "price": f"{(index * 7.35) % 90 + 1:.2f}",
        "currency": "EUR",
        "is_active": index % 11 != 5,
        "on_hand": 0 if index % 9 == 4 else index % 13 + 1,
        "reserved": 0,
    }
    return ProductCreatedV1(**{**fields, **overrides})


@dataclass
class Feed:
    """What is published, in publishing order, and what the apply test expects afterwards."""

    envelopes: list[Envelope]
    expected: dict[str, dict] = field(default_factory=dict)
    marker: str = "ZZZ-9999"

    def outcomes(self) -> Counter[str]:
        """What an inbox that applies each event once, in order, makes of each delivery, in
        publishing order (one queue): `applied` (with the parked successors it releases),
        `duplicate` (an id processed or parked already, or a sequence at or below the cursor),
        `parked` (a gap before it). An implementation that applies a duplicate counts it as
        applied (or parked again, or rejected when a key refuses it): the counts differ."""
        counts: Counter[str] = Counter()
        cursor: dict[tuple[str, str], int] = {}
        seen: set[uuid.UUID] = set()
        parked: dict[tuple[str, str], set[int]] = {}
        for envelope in self.envelopes:
            key = (envelope.aggregate_type, envelope.aggregate_id)
            last = cursor.get(key, 0)
            if envelope.event_id in seen or envelope.sequence <= last:
                counts["duplicate"] += 1
                continue
            seen.add(envelope.event_id)
            if envelope.sequence > last + 1:
                parked.setdefault(key, set()).add(envelope.sequence)
                counts["parked"] += 1
                continue
            counts["applied"] += 1
            last = envelope.sequence
            while last + 1 in parked.get(key, set()):
                parked[key].remove(last + 1)
                last += 1
            cursor[key] = last
        return counts


def feed() -> Feed:
    stream = Stream()
    for slug, name in CATEGORIES.items():
        stream.add(CategoryCreatedV1(slug=slug, name=name))
    prefixes = {"coffee": "COF", "kitchen": "KIT", "garden": "GAR"}
    for index in range(1, 46):
        category = list(CATEGORIES)[index % 3]
        stream.add(product_created(f"{prefixes[category]}-{index:04d}", index, category))
    # Later changes: renames, a deactivation, a new category named by an update, price and stock.
    stream.add(
        ProductUpdatedV1(
            sku="KIT-0001",
            name="Whistling kettle",
            description="Renamed.",
            category="tea-and-more",
            is_active=True,
        )
    )
    stream.add(
        ProductPriceChangedV1(sku="COF-0003", old_price="23.05", new_price="0.50", currency="EUR")
    )
    stream.add(StockChangedV2(sku="COF-0006", on_hand=4, reserved=4, available=0, reason="order"))
    stream.add(
        ProductUpdatedV1(
            sku="GAR-0002", name="Gone", description="", category="garden", is_active=False
        )
    )

    published = list(stream.envelopes)
    # A duplicate of a creation arriving after the stock changed: applied once, it must not
    # put the old stock back.
    created = stream.add(product_created("DUP-0001", 50, "kitchen", on_hand=5))
    stock = stream.add(
        StockChangedV2(sku="DUP-0001", on_hand=9, reserved=2, available=7, reason="count")
    )
    published += [created, stock, created]
    # Reordered: the update (4) and the second price change (3) arrive before their predecessors.
    first = stream.add(product_created("ORD-0001", 51, "coffee", price="10.00"))
    cheaper = stream.add(
        ProductPriceChangedV1(sku="ORD-0001", old_price="10.00", new_price="20.00", currency="EUR")
    )
    dearer = stream.add(
        ProductPriceChangedV1(sku="ORD-0001", old_price="20.00", new_price="30.00", currency="EUR")
    )
    renamed = stream.add(
        ProductUpdatedV1(
            sku="ORD-0001", name="Reordered", description="", category="coffee", is_active=True
        )
    )
    # ... and the older price change again once the newer one is applied: applied twice, it
    # would put 20.00 back.
    published += [renamed, dearer, first, dearer, cheaper, cheaper]
    marker = stream.add(product_created("ZZZ-9999", 52, "garden", is_active=True))
    published.append(marker)
    return Feed(
        envelopes=published,
        expected={
            "DUP-0001": {"stock": {"available": 7, "in_stock": True}},
            "ORD-0001": {"name": "Reordered", "price": "30.00"},
            "ZZZ-9999": {"sku": "ZZZ-9999"},
        },
    )


@dataclass(frozen=True)
class Read:
    name: str
    path: str
    query: str = ""
    user: str = ""  # "", "staff", "customer" or a raw Authorization header value
    authorization: str = ""


def _segment(value) -> str:
    """One token segment: JSON, base64url without padding."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _bearer(
    header: dict | list, payload: str = _segment({"sub": "2"}), crypto: str = "c2ln"
) -> str:
    return f"Bearer {_segment(header)}.{payload}.{crypto}"


RS256 = {"alg": "RS256", "typ": "JWT"}
# Tokens broken before the signature is checked: PyJWT's checks in its order and its words
# (the header's bytes as ASCII, the segments, each one's padding, the key id's type, then the
# algorithm and the key). A padding error is a segment of one character.
TOKEN_EDGES = [
    ("a token of four segments", "Bearer a.b.c.d"),
    ("a bad signature before the algorithm", _bearer({**RS256, "alg": "HS256"}, crypto="a")),
    ("a bad signature before the key id", _bearer(RS256, crypto="a")),
    ("a bad signature before the key", _bearer({**RS256, "kid": "nope"}, crypto="a")),
    ("a bad payload before the key", _bearer({**RS256, "kid": "nope"}, payload="a")),
    ("a key id not a string", _bearer({**RS256, "kid": 5})),
    ("a header not an object", _bearer([1])),
    ("a token not ASCII", "Bearer caf\u00e9.eyJ9.c2ln"),
]

READS = [
    Read("list first page", "/api/v1/products/"),
    Read("list page 2", "/api/v1/products/", "page=2"),
    Read("list last page of 7", "/api/v1/products/", "page_size=7&page=7"),
    Read("list past the last page", "/api/v1/products/", "page=99"),
    Read("page zero", "/api/v1/products/", "page=0"),
    Read("page not a number", "/api/v1/products/", "page=abc"),
    Read("page size too big", "/api/v1/products/", "page_size=500"),
    Read(
        "blank parameters",
        "/api/v1/products/",
        "page=&page_size=&category=&ordering=&in_stock=&min_price=",
    ),
    Read("by category", "/api/v1/products/", "category=coffee&utm_source=x+y"),
    Read("last repeated value wins", "/api/v1/products/", "category=coffee&category=kitchen"),
    Read("new category from an update", "/api/v1/products/", "category=tea-and-more"),
    Read("bad slug", "/api/v1/products/", "category=no%20way"),
    Read("price range", "/api/v1/products/", "min_price=20&max_price=60.50"),
    Read("min above max", "/api/v1/products/", "min_price=9&max_price=1"),
    Read("bad number", "/api/v1/products/", "min_price=cheap"),
    Read("too many places", "/api/v1/products/", "max_price=1.234"),
    Read("negative price", "/api/v1/products/", "min_price=-1"),
    Read("sold out", "/api/v1/products/", "in_stock=false"),
    Read("in stock", "/api/v1/products/", "in_stock=TRUE&page_size=50"),
    Read("bad boolean", "/api/v1/products/", "in_stock=maybe"),
    Read("search", "/api/v1/products/", "q=kettle"),
    Read("search a percent sign", "/api/v1/products/", "q=100%25"),
    Read("search an underscore", "/api/v1/products/", "q=r_o"),
    Read("search accents", "/api/v1/products/", "q=cr%C3%A8me"),
    Read("order by price desc", "/api/v1/products/", "ordering=-price&page_size=50"),
    Read("order by name", "/api/v1/products/", "ordering=name&page=2"),
    Read("unknown ordering", "/api/v1/products/", "ordering=password"),
    Read("several errors", "/api/v1/products/", "ordering=x&page_size=0&in_stock=2"),
    Read("staff see inactive", "/api/v1/products/", "page_size=100", user="staff"),
    Read("customers do not", "/api/v1/products/", "page_size=100", user="customer"),
    # Python's number and string rules at the edges (found identical while adding Go).
    Read("page as a decimal", "/api/v1/products/", "page=2.0"),
    Read("underscores in a page size", "/api/v1/products/", "page_size=1_0"),
    Read("prices with exponents", "/api/v1/products/", "min_price=1e1&max_price=2E1"),
    Read("prices without a digit on one side", "/api/v1/products/", "min_price=.5&max_price=5."),
    Read("too many whole digits", "/api/v1/products/", "min_price=12345678901"),
    Read("a page beyond 64 bits", "/api/v1/products/", "page=99999999999999999999999"),
    Read("a negative page size", "/api/v1/products/", "page_size=-5"),
    Read("signs and spaces around integers", "/api/v1/products/", "page=+2&page_size=%205%20"),
    Read("a null character", "/api/v1/products/", "q=%00"),
    Read("a search too long", "/api/v1/products/", "q=" + "x" * 101),
    Read("a truncated UTF-8 escape", "/api/v1/products/", "q=%E2%82"),
    Read("a category in spaces", "/api/v1/products/", "category=%20coffee%20"),
    Read("in stock null", "/api/v1/products/", "in_stock=null"),
    Read("in stock capitalised", "/api/v1/products/", "in_stock=Yes"),
    Read("detail", "/api/v1/products/COF-0003/"),
    Read("detail renamed into a new category", "/api/v1/products/KIT-0001/"),
    Read("detail sold out", "/api/v1/products/COF-0006/"),
    Read("detail inactive anonymous", "/api/v1/products/GAR-0002/"),
    Read("detail inactive as staff", "/api/v1/products/GAR-0002/", user="staff"),
    Read("detail unknown", "/api/v1/products/NOPE-1/"),
    Read("detail malformed sku", "/api/v1/products/cof-0003/"),
    Read("not a sku, not ASCII", "/api/v1/products/CAF%C3%89/"),
    Read("below a product", "/api/v1/products/COF-0003/nothing-here/"),
    Read("bad token", "/api/v1/products/", authorization="Bearer not-a-token"),
    Read("bearer without token", "/api/v1/products/COF-0003/", authorization="Bearer"),
    Read("another scheme is anonymous", "/api/v1/products/GAR-0002/", authorization="Basic eDp5"),
    *(Read(name, "/api/v1/products/", authorization=value) for name, value in TOKEN_EDGES),
]

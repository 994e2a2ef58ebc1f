import uuid

from servicekit.web.request_id import request_id_from


def test_a_safe_id_is_kept():
    assert request_id_from("abc-123.XYZ") == "abc-123.XYZ"


def test_an_unsafe_or_missing_id_is_replaced():
    for bad in (None, "", "x" * 200, "evil\r\nSet-Cookie: a=b", "spaces are bad"):
        made = request_id_from(bad)
        assert made != bad and len(made) == 32


def test_a_made_id_is_a_random_uuid_in_hex():
    made = {request_id_from(None) for _ in range(50)}
    assert len(made) == 50
    for value in made:
        parsed = uuid.UUID(hex=value)
        assert (parsed.hex, parsed.version, parsed.variant) == (value, 4, uuid.RFC_4122)

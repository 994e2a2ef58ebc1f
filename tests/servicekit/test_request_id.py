from servicekit.web.request_id import request_id_from


def test_a_safe_id_is_kept():
    assert request_id_from("abc-123.XYZ") == "abc-123.XYZ"


def test_an_unsafe_or_missing_id_is_replaced():
    for bad in (None, "", "x" * 200, "evil\r\nSet-Cookie: a=b", "spaces are bad"):
        made = request_id_from(bad)
        assert made != bad and len(made) == 32

from servicekit.web.logging import REDACTED, redact_secrets, redact_text


def test_sensitive_keys_and_bearer_tokens_are_redacted():
    event = redact_secrets(
        None,
        "info",
        {
            "event": "login",
            "password": "hunter2",
            "headers": {"Authorization": "Bearer abc.def.ghi", "Accept": "json"},
            "detail": "got Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl from client",
            "path": "/reset?token=s3cret&page=2",
            "request_id": "r-1",
        },
    )
    assert event["password"] == REDACTED
    assert event["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert "eyJ" not in event["detail"] and "c2lnbmF0dXJl" not in event["detail"]
    assert event["path"] == f"/reset?token={REDACTED}&page=2"
    assert event["request_id"] == "r-1"


def test_card_and_short_secret_fields_are_redacted_by_whole_word():
    event = redact_secrets(
        None,
        "info",
        {
            "event": "pay",
            "body": {"pin": "1234", "cvv": "999", "pwd": "x", "card_number": "4111", "shipping": 1},
            "path": "/p?apikey=k1&access_token=t1&page=2",
        },
    )
    assert event["body"] == {
        "pin": REDACTED,
        "cvv": REDACTED,
        "pwd": REDACTED,
        "card_number": REDACTED,
        "shipping": 1,
    }
    assert event["path"] == f"/p?apikey={REDACTED}&access_token={REDACTED}&page=2"


def test_each_kind_of_secret_in_text_is_masked_on_its_own():
    # each text holds one kind only: the quick screen in redact_text must let each through
    assert redact_text("sent bEaReR abc.def-ghi") == f"sent bEaReR {REDACTED}"
    assert redact_text("jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln") == f"jwt {REDACTED}"
    assert redact_text("retry with session=abc") == f"retry with session={REDACTED}"
    plain = "/api/v1/products/7/ served by monolith"
    assert redact_text(plain) is plain

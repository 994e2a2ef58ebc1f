"""The harness itself: ignore rules, unordered lists, and a readable diff when sides differ."""

from tests.parity.harness import Answer, Rules, difference, normalise


def test_ignored_fields_and_unordered_lists_compare_equal():
    rules = Rules(ignore=("results.*.created_at",), unordered=("tags",))
    a = Answer(
        200, "application/json", {"results": [{"sku": "A", "created_at": "1"}], "tags": [1, 2]}
    )
    b = Answer(
        200, "application/json", {"results": [{"sku": "A", "created_at": "2"}], "tags": [2, 1]}
    )
    assert difference(a, b, rules, labels=("left", "right")) is None


def test_a_real_difference_is_shown_as_a_diff():
    a = Answer(200, "application/json", {"price": "1.00"})
    b = Answer(200, "application/json", {"price": "1.01"})
    diff = difference(a, b, Rules(), labels=("monolith", "catalog"))
    assert diff is not None
    assert '-    "price": "1.00"' in diff and '+    "price": "1.01"' in diff
    assert diff.startswith("--- monolith\n+++ catalog")


def test_status_and_content_type_count():
    assert difference(Answer(200, "a", None), Answer(404, "a", None), Rules(), labels=("l", "r"))
    assert difference(Answer(200, "a", None), Answer(200, "b", None), Rules(), labels=("l", "r"))


def test_normalise_leaves_unlisted_fields_alone():
    assert normalise({"a": {"b": 1}}, Rules(ignore=("a.c",))) == {"a": {"b": 1}}

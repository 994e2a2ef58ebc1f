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


def test_a_forked_child_does_not_repeat_its_parents_ids():
    """Random bytes are read for many ids at once: a forked worker must not reuse its parent's."""
    import os

    request_id_from(None)  # the parent holds unread bytes now
    readable, writable = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, to the parent
        try:
            os.write(writable, request_id_from(None).encode())
        finally:
            os._exit(0)
    os.close(writable)
    try:
        child = os.read(readable, 64).decode()
    finally:
        os.close(readable)
        os.waitpid(pid, 0)
    assert len(child) == 32 and child != request_id_from(None)


def test_each_thread_makes_its_own_ids():
    import threading

    made: list[str] = []

    def make():
        made.extend(request_id_from(None) for _ in range(300))  # past one read of bytes

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == len(made) == 1200

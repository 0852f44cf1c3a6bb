import threading
import time
import uuid

from halo_platform.core import ids
from halo_platform.core.ids import time_ordered_id


def test_ids_are_uuid7_with_the_time_of_their_making():
    before = time.time_ns() // 1_000_000
    made = uuid.UUID(time_ordered_id())
    after = time.time_ns() // 1_000_000
    assert made.version == 7 and made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after + 1


def test_ids_grow_in_the_order_they_are_made_across_threads():
    made: list[list[str]] = [[] for _ in range(4)]

    def make(out: list[str]) -> None:
        out.extend(time_ordered_id() for _ in range(5000))

    threads = [threading.Thread(target=make, args=(out,)) for out in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for out in made for i in out]
    assert len(set(every)) == 20_000
    for out in made:
        assert out == sorted(out) and len(set(out)) == len(out)


def test_more_ids_than_a_millisecond_holds_borrow_the_next_millisecond(monkeypatch):
    frozen = time.time_ns()
    monkeypatch.setattr(ids.time, "time_ns", lambda: frozen)
    made = [time_ordered_id() for _ in range(5000)]
    assert made == sorted(made) and len(set(made)) == 5000
    stamps = [uuid.UUID(i).int >> 80 for i in made]
    assert stamps[0] >= frozen // 1_000_000 and stamps[-1] > stamps[0]
    assert max(stamps.count(s) for s in set(stamps)) <= 4096

"""Group availability over several providers' spans (pure): `any` = when at least one is free,
each piece listing who is; `all` = when every one is free (a doctor and a room)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from halo_platform.core.models import iso_z

MODES = ("any", "all")


@dataclass(frozen=True)
class GroupSpan:
    start_at: dt.datetime
    end_at: dt.datetime
    provider_ids: tuple[str, ...]  # sorted: who is free throughout

    def as_json(self) -> dict:
        return {"start_at": iso_z(self.start_at), "end_at": iso_z(self.end_at), "provider_ids": list(self.provider_ids)}


def group_spans(spans: Mapping[str, list[tuple[dt.datetime, dt.datetime]]], mode: str,
                within: Iterable[tuple[dt.datetime, dt.datetime]] | None = None) -> list[GroupSpan]:
    """Sweep every provider's spans once. `any`: a new piece wherever the set of free providers
    changes (pieces with the same set that touch are one); `all`: the pieces where every
    provider of `spans` is free. With `within`, only the instants inside one of its pieces."""
    edges = sorted([(t, kind, p) for p, pieces in spans.items() for s, e in pieces if s < e for t, kind in ((s, 1), (e, -1))]
                   + [(t, kind, None) for s, e in within or () if s < e for t, kind in ((s, 1), (e, -1))], key=lambda edge: edge[:2])
    free: dict[str, int] = {}  # a provider's spans may touch: count, not a set
    inside = 0  # as many of `within`'s pieces, which may overlap
    out: list[GroupSpan] = []
    wanted = len(spans)
    i = 0
    while i < len(edges):
        at = edges[i][0]
        while i < len(edges) and edges[i][0] == at:
            _, kind, provider = edges[i]
            if provider is None:
                inside += kind
            else:
                free[provider] = free.get(provider, 0) + kind
            i += 1
        if i == len(edges):
            break
        who = tuple(sorted(p for p, n in free.items() if n > 0))
        if not who or (within is not None and not inside) or (mode == "all" and len(who) < wanted):
            continue
        upto = edges[i][0]
        if out and out[-1].end_at == at and out[-1].provider_ids == who:
            out[-1] = GroupSpan(out[-1].start_at, upto, who)
        else:
            out.append(GroupSpan(at, upto, who))
    return out

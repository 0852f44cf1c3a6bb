"""`halo demo`: land a small, realistic feed of each format into $HALO_HOME/landing/<feed>/.

Working hours are fixed; appointments are spread over the next two weeks (files named by
date, so re-running on the same day lands nothing new). Under `make run` the landing sensor
picks them up; `halo emr process` does the same in-process."""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

from halo_platform.availability.feeds import load_feeds
from halo_platform.availability.landing import ingest
from halo_platform.core.settings import Settings

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


def _hl7(rng: random.Random, today: dt.date) -> dict[str, str]:
    doctors = [f"DR{i:03d}" for i in range(1, 9)]
    csv = ["provider_id,timezone,weekday,start,end,version"]
    csv += [f"{d},America/New_York,{w},08:00,12:00,2026-11-01T00:00:00Z" for d in doctors for w in WEEKDAYS]
    csv += [f"{d},America/New_York,{w},13:00,17:00,2026-11-01T00:00:00Z" for d in doctors for w in WEEKDAYS]
    csv += ["DR008,America/New_York,sat,22:00,06:00,2026-11-01T00:00:00Z"]  # a night shift
    messages = []
    stamp = dt.datetime.combine(today, dt.time())
    for i in range(60):
        day = today + dt.timedelta(days=rng.randrange(14))
        start = dt.datetime.combine(day, dt.time(8)) + dt.timedelta(minutes=30 * rng.randrange(16))
        end = start + dt.timedelta(minutes=rng.choice((15, 30, 60)))
        trigger, apt = ("S15", i - 1) if i % 12 == 5 else ("S12", i)  # now and then the previous booking is cancelled
        version = stamp + dt.timedelta(seconds=i)
        messages.append(f"MSH|^~\\&|EPIC|CLINIC|HALO|HALO|{version:%Y%m%d%H%M%S}||SIU^{trigger}^SIU_{trigger}|{i}|P|2.5\r"
                        f"SCH|P{apt}|HL7-APT{apt:03d}^EPIC|||||||||^^^{start:%Y%m%d%H%M}^{end:%Y%m%d%H%M}\r"
                        f"AIP|1||{rng.choice(doctors)}^Doctor")
    return {"templates.csv": "\n".join(csv) + "\n", f"siu-{today}.hl7": "".join(f"\x0b{m}\x1c\r" for m in messages)}


def _fhir(rng: random.Random, today: dt.date) -> dict[str, str]:
    tz = '"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/timezone","valueCode":"Asia/Jakarta"}]'
    roles = [
        f'{{"resourceType":"PractitionerRole","id":"role-{i}","meta":{{"lastUpdated":"2026-11-01T00:00:00Z"}},{tz},'
        f'"practitioner":{{"reference":"Practitioner/PR{i:03d}"}},"availableTime":[{{"daysOfWeek":["mon","tue","wed","thu","fri"],'
        f'"availableStartTime":"08:00:00","availableEndTime":"16:00:00"}},{{"daysOfWeek":["sat"],"availableStartTime":"09:00:00",'
        f'"availableEndTime":"12:00:00"}}]}}' for i in range(1, 7)]
    roles += [f'{{"resourceType":"Schedule","id":"sched-{i}","meta":{{"lastUpdated":"2026-11-01T00:00:00Z"}},'
              f'"actor":[{{"reference":"Practitioner/PR{i:03d}"}}]}}' for i in range(1, 7)]
    lines = []
    for i in range(40):
        day = today + dt.timedelta(days=rng.randrange(14))
        start = dt.datetime.combine(day, dt.time(1)) + dt.timedelta(minutes=30 * rng.randrange(14))  # 08:00-15:00 WIB in UTC
        end = start + dt.timedelta(minutes=rng.choice((30, 60)))
        who = f"PR{rng.randrange(1, 7):03d}"
        lines.append(f'{{"resourceType":"Appointment","id":"fhir-apt-{i}","meta":{{"lastUpdated":"{dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%S}Z"}},'
                     f'"status":"{"cancelled" if i % 9 == 4 else "booked"}","start":"{start:%Y-%m-%dT%H:%M:%S}Z","end":"{end:%Y-%m-%dT%H:%M:%S}Z",'
                     f'"participant":[{{"actor":{{"reference":"Patient/pt{i}"}}}},{{"actor":{{"reference":"Practitioner/{who}"}}}}]}}')
    lunch = today + dt.timedelta(days=2)
    lines.append(f'{{"resourceType":"Slot","id":"staff-meeting","meta":{{"lastUpdated":"2026-11-01T00:00:00Z"}},'
                 f'"schedule":{{"reference":"Schedule/sched-1"}},"status":"busy-unavailable","start":"{lunch}T05:00:00Z","end":"{lunch}T06:00:00Z"}}')
    return {"roles.ndjson": "\n".join(roles) + "\n", f"appointments-{today}.ndjson": "\n".join(lines) + "\n"}


def _acme(rng: random.Random, today: dt.date) -> dict[str, str]:
    week = '{"mon":[["09:00","12:00"],["13:00","17:00"]],"tue":[["09:00","12:00"],["13:00","17:00"]],"wed":[["09:00","12:30"]],' \
           '"thu":[["09:00","12:00"],["13:00","17:00"]],"fri":[["09:00","12:00"],["13:00","16:00"]]}'
    hours = [f'{{"type":"hours","provider":"AC{i:03d}","tz":"Europe/Paris","week":{week},"updated_at":"2026-11-01T00:00:00Z"}}'
             for i in range(1, 9)]
    lines = []
    for i in range(50):
        day = today + dt.timedelta(days=rng.randrange(14))
        start = dt.datetime.combine(day, dt.time(9)) + dt.timedelta(minutes=30 * rng.randrange(14))
        lines.append(f'{{"type":"appointment","action":"upsert","id":"acme-{i}","provider":"AC{rng.randrange(1, 9):03d}",'
                     f'"start":"{start:%Y-%m-%dT%H:%M:%S}","duration_min":{rng.choice((15, 30, 45))},"tz":"Europe/Paris",'
                     f'"status":"booked","updated_at":"{dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%S}Z"}}')
    off = today + dt.timedelta(days=5)
    lines.append(f'{{"type":"vacation","action":"upsert","id":"leave-1","provider":"AC002","from_date":"{off}",'
                 f'"to_date":"{off + dt.timedelta(days=2)}","updated_at":"2026-11-01T00:00:00Z"}}')
    return {"hours.jsonl": "\n".join(hours) + "\n", f"appointments-{today}.jsonl": "\n".join(lines) + "\n"}


BUILDERS = {"hl7": _hl7, "fhir": _fhir, "acme": _acme}


def seed(settings: Settings) -> Iterator[str]:
    today = dt.date.today()
    feeds = load_feeds(settings.feeds_file)
    for name, build in BUILDERS.items():
        if name not in feeds:
            continue
        target = settings.landing_dir / name
        for filename, text in build(random.Random(f"{name}-{today}"), today).items():
            if (target / filename).exists():
                continue
            with tempfile.TemporaryDirectory() as tmp:
                source = Path(tmp) / filename
                source.write_text(text)
                ingest(feeds[name], source)
            yield f"emr demo: landed {name}/{filename}"
    yield "emr demo: feeds landed; `halo emr process` (or the landing sensor under `make run`) turns them into spans"

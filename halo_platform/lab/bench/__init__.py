"""`halo bench ...`: each benchmark prints our figure beside a baseline and the raw limit
measured in the same run. Registered into `halo` through the `halo_platform.commands`
entry point (setup.py), so the product's CLI never imports the lab."""

from __future__ import annotations

import click

from halo_platform.lab.bench.access import bench_access
from halo_platform.lab.bench.availability import bench_emr
from halo_platform.lab.bench.availability_api import bench_emr_api
from halo_platform.lab.bench.delivery import bench_delivery
from halo_platform.lab.bench.reports import bench_reports
from halo_platform.lab.bench.warehouses import warehouses_bench


@click.group()
def bench() -> None:
    """Benchmarks: each prints our figure beside a baseline measured in the same run."""


for _command in (bench_reports, bench_emr, bench_emr_api, bench_delivery, warehouses_bench, bench_access):
    bench.add_command(_command)

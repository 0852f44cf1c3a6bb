"""Sink tests deliver one small report file to real servers on 127.0.0.1."""

from __future__ import annotations

import pytest


@pytest.fixture
def report_file(tmp_path):  # noqa: ANN001
    path = tmp_path / "payment_reconciliation_2024-03-04_2024-03-11.csv"
    path.write_text("order_id,issue\nO1,MISSING_PAYMENT\n")
    return path

"""Shared bits of the benchmarks: where they ran, and when."""

from __future__ import annotations

import datetime as dt
import os
import platform


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return f"{platform.system()} {platform.machine()} ({cpu}), {os.cpu_count()} cores, " \
           f"Python {platform.python_version()}"


def header(title: str, command: str) -> str:
    today = dt.date.today().isoformat()
    return f"# {title}\n# date: {today}\n# command: {command}\n# machine: {machine()}"

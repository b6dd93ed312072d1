"""The I/O a run of build_tool uses besides its arguments, in one object tests can swap (as httpie does)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class Environment:
    """Results go to `stdout`, chatter and errors to `stderr`; `environ` is where defaults come from.

    boto3 and Django still read the process environment themselves (AWS_*, DJANGO_SETTINGS_MODULE).
    `entered` is when build_tool's code began (time.monotonic()) in a process that is build_tool's
    own, so a build's timings can start at the process's start; None in-process (tests, manage.py).
    """

    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    entered: float | None = None

    def out(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def err(self, text: str) -> None:
        self.stderr.write(text + "\n")
        self.stderr.flush()

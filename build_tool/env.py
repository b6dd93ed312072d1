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
    """

    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    def out(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def err(self, text: str) -> None:
        self.stderr.write(text + "\n")
        self.stderr.flush()

"""A stand-in for the LambdaContext the runtime passes: what Powertools and the handler read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FakeContext:
    function_name: str = "static-deploy"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:static-deploy"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    seconds_left: float = 900.0

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds_left * 1000)

"""Moved to ``pegasus_testkit.moto_server`` (tools share it); new code imports it from there."""

from pegasus_testkit.moto_server import (
    STARTUP_SECONDS,
    moto_s3_server,
)
from pegasus_testkit.ports import free_port

__all__ = [
    "STARTUP_SECONDS",
    "free_port",
    "moto_s3_server",
]

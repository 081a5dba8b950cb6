"""Moved to ``pegasus_testkit.deployment`` (tools share it); new code imports it from there."""

from pegasus_testkit.cli import run_cli
from pegasus_testkit.deployment import (
    REDIS_URL,
    STARTUP_SECONDS,
    Api,
    Deployment,
    ManagedProcess,
    embedded_deployment,
    embedded_env,
    fast_queue_env,
    running,
    scaled_deployment,
)

__all__ = [
    "REDIS_URL",
    "STARTUP_SECONDS",
    "Api",
    "Deployment",
    "ManagedProcess",
    "embedded_deployment",
    "embedded_env",
    "fast_queue_env",
    "run_cli",
    "running",
    "scaled_deployment",
]

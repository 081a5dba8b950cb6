"""Moved to ``pegasus_testkit.prometheus`` (tools share it); new code imports it from there."""

from pegasus_testkit.prometheus import (
    EMPTY_CONFIG,
    STARTUP_SECONDS,
    STOP_SECONDS,
    PrometheusNotInstalledError,
    PrometheusServer,
    prometheus_binary,
    prometheus_server,
)

__all__ = [
    "EMPTY_CONFIG",
    "STARTUP_SECONDS",
    "STOP_SECONDS",
    "PrometheusNotInstalledError",
    "PrometheusServer",
    "prometheus_binary",
    "prometheus_server",
]

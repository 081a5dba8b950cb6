"""Who may post to the Alertmanager webhook: the holder of the shared bearer secret."""

from __future__ import annotations

import hmac

from pydantic import SecretStr

from pegasus.errors import AuthenticationError, PermissionDeniedError


def check_alert_sender(authorization: str | None, secret: SecretStr | None) -> None:
    """Admit a caller whose ``Authorization`` header is ``Bearer <secret>`` (compared in
    constant time). ``PermissionDeniedError`` while no secret is configured (the webhook is
    off), ``AuthenticationError`` for a missing or wrong one."""
    if secret is None:
        raise PermissionDeniedError(
            "The alert webhook is off: set PEGASUS_OPS_ALERT_WEBHOOK_SECRET(_FILE)."
        )
    scheme, _, token = (authorization or "").partition(" ")
    expected = secret.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise AuthenticationError("The alert webhook secret is missing or wrong.")

"""Who may post to the Alertmanager webhook: the holder of the shared bearer secret.

During a rotation two secrets are accepted: the new one (``alert_webhook_secret``) and the
one being retired (``alert_webhook_secret_previous``), so Alertmanager can be switched to
the new secret after Pegasus without a window in which its alerts are refused."""

from __future__ import annotations

import hmac

from pydantic import SecretStr

from pegasus.errors import AuthenticationError, PermissionDeniedError


def check_alert_sender(
    authorization: str | None, secret: SecretStr | None, previous: SecretStr | None = None
) -> None:
    """Admit a caller whose ``Authorization`` header is ``Bearer <secret>`` or, while a
    rotation is under way, ``Bearer <previous>`` (each compared in constant time).
    ``PermissionDeniedError`` while no secret is configured (the webhook is off; ``previous``
    alone does not turn it on), ``AuthenticationError`` for a missing, empty or wrong one."""
    if secret is None:
        raise PermissionDeniedError(
            "The alert webhook is off: set PEGASUS_OPS_ALERT_WEBHOOK_SECRET(_FILE)."
        )
    scheme, _, token = (authorization or "").partition(" ")
    given = token.strip().encode()
    accepted = [s.get_secret_value().encode() for s in (secret, previous) if s is not None]
    # Every candidate is compared (no early exit), and an empty secret never matches.
    matches = [hmac.compare_digest(given, expected) for expected in accepted if expected]
    if scheme.lower() != "bearer" or not given or not any(matches):
        raise AuthenticationError("The alert webhook secret is missing or wrong.")

"""Who may post to the Alertmanager webhook (``pegasus.ops.webhook``)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from pegasus.errors import AuthenticationError, PermissionDeniedError
from pegasus.ops.webhook import check_alert_sender

SECRET = SecretStr("s3cret-for-alertmanager")


@pytest.mark.parametrize(
    "authorization", ["Bearer s3cret-for-alertmanager", "bearer  s3cret-for-alertmanager "]
)
def test_the_secret_as_a_bearer_token_is_admitted(authorization: str) -> None:
    check_alert_sender(authorization, SECRET)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer wrong",
        "Bearer s3cret-for-alertmanager-and-more",
        "Basic s3cret-for-alertmanager",
        "s3cret-for-alertmanager",
    ],
)
def test_a_missing_or_wrong_secret_is_refused(authorization: str | None) -> None:
    with pytest.raises(AuthenticationError, match="secret is missing or wrong"):
        check_alert_sender(authorization, SECRET)


def test_without_a_configured_secret_the_webhook_is_off() -> None:
    with pytest.raises(PermissionDeniedError, match="PEGASUS_OPS_ALERT_WEBHOOK_SECRET"):
        check_alert_sender("Bearer anything", None)

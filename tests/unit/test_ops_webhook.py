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


NEW = SecretStr("new-secret-after-rotation")
OLD = SecretStr("old-secret-being-retired")


@pytest.mark.parametrize("token", ["new-secret-after-rotation", "old-secret-being-retired"])
def test_during_a_rotation_the_new_and_the_previous_secret_are_admitted(token: str) -> None:
    check_alert_sender(f"Bearer {token}", NEW, OLD)


def test_once_the_previous_secret_is_unset_it_is_refused() -> None:
    check_alert_sender("Bearer new-secret-after-rotation", NEW, None)
    with pytest.raises(AuthenticationError):
        check_alert_sender("Bearer old-secret-being-retired", NEW, None)


def test_the_previous_secret_alone_does_not_turn_the_webhook_on() -> None:
    with pytest.raises(PermissionDeniedError):
        check_alert_sender("Bearer old-secret-being-retired", None, OLD)


@pytest.mark.parametrize("authorization", ["Bearer ", "Bearer", "Bearer wrong"])
def test_an_empty_secret_admits_nobody(authorization: str) -> None:
    # The settings refuse an empty secret at start-up; this holds even if one gets here.
    with pytest.raises(AuthenticationError):
        check_alert_sender(authorization, SecretStr(""), SecretStr(""))

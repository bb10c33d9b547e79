"""Staff-only HTTP endpoints: a person's decision on a held order.

``POST /api/orders/{id}/release`` and ``POST /api/orders/{id}/reject`` call the same services as
the admin's actions (orders/review.py). Staff authenticate with HTTP Basic (a Django user with
``is_staff``; for curl and scripts) or with the admin's session cookie (and its CSRF token, as
any cookie-authenticated write must). No credentials, or wrong ones: 401. A user who is not
staff: 403. Both in the API's error shape (api/site.py). The body is JSON like every POST's:
``{}``, or ``{"note": "why"}``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import HttpError
from ninja.security import HttpBasicAuth, SessionAuth
from pydantic import ConfigDict, Field, StringConstraints

from orders import lifecycle, review
from orders.api import CHANGE_RESPONSES, loaded, transition
from orders.models import Order
from orders.schemas import SINGLE_LINE, ErrorOut

NOTE_MAX_LENGTH = 300
STAFF_ONLY = "only staff may release or reject a held order"


def _staff(user: Any) -> Any:
    """The user if staff; None (401) when unknown or inactive; 403 when known but not staff."""
    if user is None or not user.is_active:
        return None
    if not user.is_staff:
        raise HttpError(403, STAFF_ONLY)
    return user


class StaffBasicAuth(HttpBasicAuth):
    """``Authorization: Basic``, checked against Django's users."""

    def authenticate(self, request: HttpRequest, username: str, password: str) -> Any:
        return _staff(authenticate(request, username=username, password=password))


class StaffSessionAuth(SessionAuth):
    """The admin's session cookie (ninja checks the CSRF token for it)."""

    def __call__(self, request: HttpRequest) -> Any:
        # Ninja checks CSRF before it looks at the cookie, so a request with no session at all
        # (curl, or wrong Basic credentials) would get "CSRF check failed" (403) instead of 401.
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return None
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        return _staff(super().authenticate(request, key))


STAFF = [StaffBasicAuth(), StaffSessionAuth()]
router = Router(tags=["staff"], auth=STAFF)


class ReviewIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    note: Annotated[
        str,
        StringConstraints(strip_whitespace=True, max_length=NOTE_MAX_LENGTH, pattern=SINGLE_LINE),
        Field(description="Why, in a line: kept on the order's release event or in its cancel reason."),
    ] = ""


REVIEW_RESPONSES = {**CHANGE_RESPONSES, 401: ErrorOut, 403: ErrorOut}


def _reviewer(request: HttpRequest) -> str:
    return str(request.auth.get_username())  # type: ignore[attr-defined]


# In the document: allowed from on_hold only; release usually leaves the order confirmed.
@router.post(
    "/orders/{id}/release", response=REVIEW_RESPONSES, openapi_extra=transition("release", lifecycle.CONFIRMED)
)
def release(request: HttpRequest, id: uuid.UUID, payload: ReviewIn) -> Order:
    """Staff only. Release a held order: it is confirmed as an unflagged order would be (now, if
    its stock and payment are already secured). 409 unless the order is on hold."""
    return loaded(review.release_hold(id, reviewed_by=_reviewer(request), note=payload.note))


@router.post("/orders/{id}/reject", response=REVIEW_RESPONSES, openapi_extra=transition("reject", lifecycle.CANCELLED))
def reject(request: HttpRequest, id: uuid.UUID, payload: ReviewIn) -> Order:
    """Staff only. Reject a held order: cancelled, its stock released, its payment voided, the
    customer told. 409 unless the order is on hold."""
    return loaded(review.reject_hold(id, reviewed_by=_reviewer(request), note=payload.note))

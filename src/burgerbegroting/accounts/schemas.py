"""Request and response bodies of the accounts API.

Request fields are plain ``str``: lengths and formats are checked by the service, which answers
each problem with its own Dutch message. msgspec still refuses wrong types and unknown fields
(400) before anything runs.
"""

from __future__ import annotations

from datetime import datetime

import msgspec


class RegisterRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    password: str
    display_name: str


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    password: str


class ConfirmRequest(msgspec.Struct, forbid_unknown_fields=True):
    token: str


class UserResponse(msgspec.Struct):
    id: int
    email: str
    display_name: str
    roles: list[str]


class LoginResponse(msgspec.Struct):
    token: str
    token_type: str
    expires_at: datetime
    user: UserResponse


class MessageResponse(msgspec.Struct):
    detail: str

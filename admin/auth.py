"""Admin console login: argon2-hashed passwords, signed session cookies, CSRF tokens, lockout."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import HTTPException, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Settings
from core.models import AdminUser, AuditEvent

_hasher = PasswordHasher()
ROLES = {
    "superadmin": "系统管理员",
    "county_admin": "旗县司法局",
    "township_clerk": "司法所",
    "lawyer": "律师",
}
# Verifying against this when the user does not exist keeps the timing of both failures alike.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class LoginResult:
    user: AdminUser | None
    error: str | None = None


def authenticate(
    session: Session, *, settings: Settings, username: str, password: str, now: dt.datetime
) -> LoginResult:
    user = session.scalar(select(AdminUser).where(AdminUser.username == username.strip()))
    if user is None:
        verify_password(_DUMMY_HASH, password)
        session.add(AuditEvent(at=now, actor=f"login:{username[:40]}", action="login_failed", target="unknown user"))
        return LoginResult(None, "用户名或密码不对。")
    if user.locked_until is not None and user.locked_until > now:
        session.add(AuditEvent(at=now, actor=f"admin:{user.username}", action="login_locked"))
        minutes = int((user.locked_until - now).total_seconds() // 60) + 1
        return LoginResult(None, f"登录失败次数太多，账号已锁定，请{minutes}分钟后再试。")
    if not verify_password(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= settings.login_max_failures:
            user.locked_until = now + dt.timedelta(minutes=settings.login_lockout_minutes)
            user.failed_logins = 0
        session.add(AuditEvent(at=now, actor=f"admin:{user.username}", action="login_failed"))
        return LoginResult(None, "用户名或密码不对。")
    user.failed_logins = 0
    user.locked_until = None
    session.add(AuditEvent(at=now, actor=f"admin:{user.username}", action="login"))
    return LoginResult(user)


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = request.session.get("csrf")
    if not expected or not submitted or not secrets.compare_digest(expected, submitted):
        raise HTTPException(status_code=403, detail="表单已过期，请刷新页面后重试。")


class LoginRequired(Exception):
    """Raised by current_user; the app turns it into a redirect to the login page."""


def current_user(request: Request, session: Session) -> AdminUser:
    user_id = request.session.get("uid")
    user = session.get(AdminUser, user_id) if user_id else None
    if user is None:
        raise LoginRequired()
    return user

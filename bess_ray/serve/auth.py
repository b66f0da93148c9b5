"""API keys on every request: a FastAPI dependency that checks the bearer key and its role."""
from fastapi import Header, HTTPException, Request

from ..store.keys import allows


def role(needed: str):
    """A dependency: the caller's key must be valid and hold at least `needed`."""

    async def check(request: Request, authorization: str | None = Header(None)) -> dict:
        if not authorization or not authorization.startswith("Bearer "):
            raise HTTPException(401, "missing API key: send 'Authorization: Bearer <key>' "
                                     "(bess-ray keys create --role ROLE)")
        key = request.app.state.ingress.keys.verify(authorization.removeprefix("Bearer ").strip())
        if key is None:
            raise HTTPException(401, "unknown or revoked API key")
        request.state.key = key
        if not allows(key["role"], needed):
            raise HTTPException(403, f"role {key['role']} may not do this; it needs {needed} or higher")
        return key

    return check

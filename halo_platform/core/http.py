"""The HTTP service root: one FastAPI app; each domain adds `router` from `<domain>/api.py`.

Every 4xx body is JSON `{"error": "...", "detail": ...}`."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from halo_platform.core.domains import domain_modules
from halo_platform.core.errors import HaloError
from halo_platform.core.redact import install_redaction


def _error(status: int, error: str, detail=None) -> JSONResponse:  # noqa: ANN001
    return JSONResponse(status_code=status, content={"error": error, "detail": detail})


def create_app() -> FastAPI:
    install_redaction()
    app = FastAPI(title="halo_platform", version="0.1.0")

    @app.exception_handler(HaloError)
    async def _halo_error(_req: Request, exc: HaloError) -> JSONResponse:
        return _error(exc.http_status, str(exc))

    @app.exception_handler(HTTPException)
    async def _http_error(_req: Request, exc: HTTPException) -> JSONResponse:
        if isinstance(exc.detail, dict) and "error" in exc.detail:
            return _error(exc.status_code, exc.detail["error"], exc.detail.get("detail"))
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(404)
    async def _not_found(_req: Request, exc: Exception) -> JSONResponse:
        return _error(404, "not found", getattr(exc, "detail", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in exc.errors()]
        first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
        return _error(422, f"{'.'.join(map(str, first['loc'][1:] or first['loc']))}: {first['msg']}", detail)

    @app.get("/health")
    def health() -> dict:
        import sqlalchemy as sa

        from halo_platform.core.store import read

        with read() as conn:
            conn.execute(sa.text("SELECT 1"))
        return {"status": "ok"}

    for module in domain_modules("api"):
        for router in getattr(module, "ROUTERS", ()):
            app.include_router(router)
    return app

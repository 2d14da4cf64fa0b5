"""Request bodies parsed as strict JSON: no NaN or Infinity, no integer beyond 64 bits, no lone
surrogate, no deep nesting. Each is a 400 `bad_json` before any route runs, so nothing of the
kind reaches an index (where it would break every later answer that includes the item).

    router = APIRouter(route_class=StrictJSONRoute)
"""

from __future__ import annotations

import json

from fastapi import Request
from fastapi.routing import APIRoute

from ..corpus.json_values import strict_json_loads


class StrictJSONRequest(Request):
    async def json(self):
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = strict_json_loads(body)
            except json.JSONDecodeError:
                raise
            except ValueError as error:  # FastAPI answers a JSONDecodeError with json_invalid
                raise json.JSONDecodeError(str(error), "", 0) from None
        return self._json


class StrictJSONRoute(APIRoute):
    def get_route_handler(self):
        handler = super().get_route_handler()

        async def strict_handler(request: Request):
            return await handler(StrictJSONRequest(request.scope, request.receive))
        return strict_handler

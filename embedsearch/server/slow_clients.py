"""A deadline for reading each request, so clients that trickle headers or a body byte by byte
cannot hold connections open (uvicorn's keep-alive timer stops at a request's first byte).

`ReadDeadline` is uvicorn's HTTP protocol with one timer per connection: armed when the
connection opens and after each response, disarmed once a whole request (headers and body)
has arrived; if it fires first, the connection is closed. The request's own work is not timed.

    uvicorn.Config(app, http=ReadDeadline)
"""

from __future__ import annotations

from uvicorn.protocols.http.auto import AutoHTTPProtocol

REQUEST_READ_SECONDS = 10.0  # to send one request's headers and body
MAX_CONNECTIONS = 1000  # open at once; beyond, uvicorn answers 503 and closes


class ReadDeadline(AutoHTTPProtocol):
    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._request_read():
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._armed_cycle = self.cycle
        self._deadline = self.loop.call_later(REQUEST_READ_SECONDS, self._too_slow)

    def _disarm(self) -> None:
        deadline = getattr(self, "_deadline", None)
        if deadline is not None:
            deadline.cancel()
            self._deadline = None

    def _request_read(self) -> bool:
        """Whether a request that arrived since the timer was armed has been read whole."""
        return self.cycle is not None and self.cycle is not self._armed_cycle \
            and not self.cycle.more_body

    def _too_slow(self) -> None:
        self._deadline = None
        if not self._request_read() and not self.transport.is_closing():
            self.transport.close()

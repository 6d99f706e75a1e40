"""Joining a radio from another process: HCI over TCP, one fresh controller per client.

The process that owns the link listens; each accepted TCP connection gets its own
:class:`RadioController` on the link and speaks raw HCI (H4 framing, as bumble's
``tcp-client:`` transport does). When the client goes away its links drop, so a simulated
wearable sees link loss, and its controller leaves the link; the next client starts clean.
Several clients may be attached at the same time or one after another.
"""

from __future__ import annotations

import asyncio
import itertools
import logging

from bumble.link import LocalLink
from bumble.transport.common import StreamPacketSource

from simulators.radio.controller import RadioController, RssiTable

log = logging.getLogger(__name__)

_session_ids = itertools.count(1)


class _SocketSink:
    """Controller → host bytes onto the socket; dropped once the client is gone."""

    def __init__(self, transport: asyncio.WriteTransport) -> None:
        self._transport: asyncio.WriteTransport | None = transport

    def on_packet(self, packet: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(packet)

    def close(self) -> None:
        self._transport = None


class CentralSession(asyncio.Protocol):
    """One remote central: a controller on the link driven by HCI from a TCP client."""

    def __init__(self, link: LocalLink, sessions: set[CentralSession], rssi: RssiTable) -> None:
        self._link = link
        self._rssi = rssi
        self._sessions = sessions
        self._source = StreamPacketSource()
        self._sink: _SocketSink | None = None
        self.controller: RadioController | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        peer = transport.get_extra_info("peername")
        name = f"remote-central-{next(_session_ids)}"
        log.info("radio: %s joined from %s", name, peer)
        self._sink = _SocketSink(transport)
        self.controller = RadioController(name, link=self._link, rssi=self._rssi)
        self.controller.host = self._sink
        self._source.set_packet_sink(self.controller)
        self._sessions.add(self)

    def data_received(self, data: bytes) -> None:
        self._source.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.detach()

    def detach(self) -> None:
        """Drop this central's links and take its controller off the link (idempotent)."""
        self._sessions.discard(self)
        if self._sink is not None:
            self._sink.close()
        controller, self.controller = self.controller, None
        if controller is None:
            return
        log.info("radio: %s left", controller.name)
        controller.drop_all_links()
        controller.le_legacy_advertiser.stop()
        for advertising_set in controller.advertising_sets.values():
            advertising_set.stop()
        if controller in self._link.controllers:
            self._link.remove_controller(controller)

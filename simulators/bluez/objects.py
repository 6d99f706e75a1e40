"""A small D-Bus object server on dbus-fast: objects, properties, methods and their signals.

dbus-fast's ``ServiceInterface`` fixes an interface's properties at class level; BlueZ adds
and drops properties at run time (``RSSI`` is there only while a device is seen) and sends
all interfaces of a new object in one ``InterfacesAdded``. So the fake serves its objects
itself: one message handler answers ``org.freedesktop.DBus.ObjectManager``,
``org.freedesktop.DBus.Properties``, ``org.freedesktop.DBus.Introspectable`` and the
methods registered per (interface, member), and emits ``InterfacesAdded``,
``InterfacesRemoved`` and ``PropertiesChanged`` the way bluetoothd does.

A method handler is ``async def handler(call: Call) -> Reply``; raising
:class:`dbus_fast.errors.DBusError` answers with that error name and text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from dbus_fast import Message, MessageFlag, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError

log = logging.getLogger(__name__)

OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
PROPERTIES = "org.freedesktop.DBus.Properties"
INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"

ERROR_UNKNOWN_OBJECT = "org.freedesktop.DBus.Error.UnknownObject"
ERROR_UNKNOWN_METHOD = "org.freedesktop.DBus.Error.UnknownMethod"
ERROR_UNKNOWN_INTERFACE = "org.freedesktop.DBus.Error.UnknownInterface"
ERROR_UNKNOWN_PROPERTY = "org.freedesktop.DBus.Error.UnknownProperty"
ERROR_PROPERTY_READ_ONLY = "org.freedesktop.DBus.Error.PropertyReadOnly"
ERROR_INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"

Props = dict[str, Variant]


@dataclass(frozen=True, slots=True)
class Call:
    """One incoming method call."""

    sender: str
    path: str
    interface: str
    member: str
    args: list[Any]
    unix_fds: list[int]


@dataclass(slots=True)
class Reply:
    """A method return; ``after_send`` runs once the reply is on the socket (e.g. to close
    our copy of a file descriptor it passed)."""

    signature: str = ""
    body: list[Any] = field(default_factory=list)
    unix_fds: list[int] = field(default_factory=list)
    after_send: Callable[[], None] | None = None


Handler = Callable[[Call], Awaitable[Reply]]
Setter = Callable[[str, Any], None]
"""Called with (property name, new value) when a client sets a writable property."""


@dataclass(frozen=True, slots=True)
class Method:
    in_signature: str
    handler: Handler


@dataclass
class _Interface:
    props: Props
    methods: dict[str, Method]
    writable: dict[str, Setter]


class ObjectServer:
    """Objects served on one bus connection, keyed by path then interface name."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self._objects: dict[str, dict[str, _Interface]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._client_gone: list[Callable[[str], None]] = []
        self.errors: list[tuple[str, str]] = []
        """(member, error name) of every error reply sent, for tests."""
        bus.add_message_handler(self._on_message)

    # --- objects --------------------------------------------------------------------

    def has(self, path: str, interface: str | None = None) -> bool:
        ifaces = self._objects.get(path)
        return ifaces is not None and (interface is None or interface in ifaces)

    def add(
        self,
        path: str,
        interfaces: dict[str, Props],
        methods: dict[str, dict[str, Method]] | None = None,
        writable: dict[str, dict[str, Setter]] | None = None,
    ) -> None:
        """Add interfaces to an object (new or existing) and emit one ``InterfacesAdded``."""
        methods = methods or {}
        writable = writable or {}
        ifaces = self._objects.setdefault(path, {})
        for name, props in interfaces.items():
            ifaces[name] = _Interface(dict(props), methods.get(name, {}), writable.get(name, {}))
        self._signal(
            "/",
            OBJECT_MANAGER,
            "InterfacesAdded",
            "oa{sa{sv}}",
            [path, {name: dict(props) for name, props in interfaces.items()}],
        )

    def remove(self, path: str, interfaces: list[str] | None = None) -> None:
        """Remove interfaces (all by default) of an object; emits ``InterfacesRemoved``."""
        ifaces = self._objects.get(path)
        if ifaces is None:
            return
        names = list(ifaces) if interfaces is None else [i for i in interfaces if i in ifaces]
        if not names:
            return
        for name in names:
            del ifaces[name]
        if not ifaces:
            del self._objects[path]
        self._signal("/", OBJECT_MANAGER, "InterfacesRemoved", "oas", [path, names])

    def remove_tree(self, prefix: str) -> None:
        """Remove every object below ``prefix`` (children first, as bluetoothd does)."""
        below = [p for p in self._objects if p.startswith(prefix + "/")]
        for path in sorted(below, key=len, reverse=True):
            self.remove(path)

    def get(self, path: str, interface: str, name: str) -> Any:
        return self._objects[path][interface].props[name].value

    def props(self, path: str, interface: str) -> Props:
        return self._objects[path][interface].props

    def update(
        self,
        path: str,
        interface: str,
        changed: Props,
        invalidated: tuple[str, ...] = (),
        *,
        always: bool = False,
    ) -> None:
        """Change properties and emit ``PropertiesChanged`` (only for real changes, unless
        ``always``: bluetoothd re-emits a characteristic's Value even when equal)."""
        iface = self._objects.get(path, {}).get(interface)
        if iface is None:
            return
        real: Props = {}
        for name, value in changed.items():
            old = iface.props.get(name)
            if (
                always
                or old is None
                or old.signature != value.signature
                or old.value != value.value
            ):
                real[name] = value
            iface.props[name] = value
        gone = [name for name in invalidated if iface.props.pop(name, None) is not None]
        if real or gone:
            self._signal(path, PROPERTIES, "PropertiesChanged", "sa{sv}as", [interface, real, gone])

    def on_client_gone(self, callback: Callable[[str], None]) -> None:
        """``callback(unique_name)`` when a client connection leaves the bus."""
        self._client_gone.append(callback)

    async def watch_clients(self) -> None:
        """Subscribe to ``NameOwnerChanged`` so that vanished clients can be cleaned up."""
        reply = await self.bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="AddMatch",
                signature="s",
                body=[
                    "type='signal',sender='org.freedesktop.DBus',"
                    "interface='org.freedesktop.DBus',member='NameOwnerChanged'"
                ],
            )
        )
        if reply is None or reply.message_type == MessageType.ERROR:
            raise RuntimeError(f"AddMatch for NameOwnerChanged failed: {reply}")

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.bus.remove_message_handler(self._on_message)

    # --- messages -------------------------------------------------------------------

    def _signal(self, path: str, interface: str, member: str, sig: str, body: list[Any]) -> None:
        if self.bus.connected:
            self.bus.send(Message.new_signal(path, interface, member, sig, body))

    def _on_message(self, msg: Message) -> bool:
        if msg.message_type == MessageType.SIGNAL:
            if msg.member == "NameOwnerChanged" and msg.sender == "org.freedesktop.DBus":
                name, _old, new = msg.body
                if name.startswith(":") and not new:
                    for callback in list(self._client_gone):
                        try:
                            callback(name)
                        except Exception:
                            log.exception("client-gone callback failed for %s", name)
            return False
        if msg.message_type != MessageType.METHOD_CALL:
            return False
        task = asyncio.get_running_loop().create_task(self._answer(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _answer(self, msg: Message) -> None:
        wants_reply = not (msg.flags & MessageFlag.NO_REPLY_EXPECTED)
        after: Callable[[], None] | None = None
        try:
            reply = await self._dispatch(msg)
            after = reply.after_send
            out = Message.new_method_return(msg, reply.signature, reply.body, reply.unix_fds)
        except DBusError as exc:
            self.errors.append((msg.member or "", exc.type))
            out = Message.new_error(msg, exc.type, exc.text)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a fake's bug: answer, never leave a caller hanging
            log.exception("fake BlueZ failed on %s.%s", msg.interface, msg.member)
            out = Message.new_error(msg, "org.bluez.Error.Failed", f"{type(exc).__name__}: {exc}")
        try:
            if wants_reply and self.bus.connected:
                await self.bus.send(out)
        finally:
            if after is not None:
                after()

    async def _dispatch(self, msg: Message) -> Reply:
        path = msg.path or "/"
        interface = msg.interface or ""
        member = msg.member or ""
        if interface == OBJECT_MANAGER and member == "GetManagedObjects":
            return Reply("a{oa{sa{sv}}}", [self._managed_objects(path)])
        if interface == INTROSPECTABLE and member == "Introspect":
            return Reply("s", [self._introspect(path)])
        ifaces = self._objects.get(path)
        if interface == PROPERTIES:
            return self._properties(msg, path, member)
        if ifaces is None:
            raise DBusError(ERROR_UNKNOWN_OBJECT, f"Method {member!r} on unknown object {path}")
        candidates = [ifaces[interface]] if interface in ifaces else []
        if not interface:
            candidates = [i for i in ifaces.values() if member in i.methods]
        for iface in candidates:
            method = iface.methods.get(member)
            if method is None:
                continue
            if (msg.signature or "") != method.in_signature:
                raise DBusError(
                    ERROR_INVALID_ARGS,
                    f"{member} takes ({method.in_signature}), got ({msg.signature})",
                )
            call = Call(
                sender=msg.sender or "",
                path=path,
                interface=interface,
                member=member,
                args=list(msg.body),
                unix_fds=list(msg.unix_fds),
            )
            return await method.handler(call)
        raise DBusError(
            ERROR_UNKNOWN_METHOD, f"No method {member!r} in interface {interface!r} at {path}"
        )

    def _properties(self, msg: Message, path: str, member: str) -> Reply:
        ifaces = self._objects.get(path)
        if ifaces is None:
            raise DBusError(ERROR_UNKNOWN_OBJECT, f"No object at {path}")
        name = msg.body[0] if msg.body else ""
        iface = ifaces.get(name)
        if iface is None:
            raise DBusError(ERROR_UNKNOWN_INTERFACE, f"No interface {name!r} at {path}")
        if member == "GetAll" and msg.signature == "s":
            return Reply("a{sv}", [dict(iface.props)])
        if member == "Get" and msg.signature == "ss":
            prop = iface.props.get(msg.body[1])
            if prop is None:
                raise DBusError(ERROR_INVALID_ARGS, f"No property {msg.body[1]!r}")
            return Reply("v", [prop])
        if member == "Set" and msg.signature == "ssv":
            prop_name, value = msg.body[1], msg.body[2]
            if prop_name not in iface.props:
                raise DBusError(ERROR_INVALID_ARGS, f"No property {prop_name!r}")
            setter = iface.writable.get(prop_name)
            if setter is None:
                raise DBusError(ERROR_PROPERTY_READ_ONLY, f"{prop_name} is read-only")
            if value.signature != iface.props[prop_name].signature:
                raise DBusError(ERROR_INVALID_ARGS, f"{prop_name} takes {value.signature!r}")
            setter(prop_name, value.value)
            return Reply()
        raise DBusError(ERROR_UNKNOWN_METHOD, f"No method {member!r} in {PROPERTIES}")

    def _managed_objects(self, root: str) -> dict[str, dict[str, Props]]:
        prefix = "" if root == "/" else root
        return {
            path: {name: dict(iface.props) for name, iface in ifaces.items()}
            for path, ifaces in self._objects.items()
            if root == "/" or path.startswith(prefix + "/")
        }

    def _introspect(self, path: str) -> str:
        prefix = "" if path == "/" else path
        children = sorted(
            {
                p[len(prefix) + 1 :].split("/", 1)[0]
                for p in self._objects
                if p.startswith(prefix + "/") and p != path
            }
        )
        parts = ['<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"']
        parts.append(' "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">')
        parts.append("<node>")
        for name in self._objects.get(path, {}):
            parts.append(f'  <interface name="{name}"/>')
        for child in children:
            parts.append(f'  <node name="{child}"/>')
        parts.append("</node>")
        return "\n".join(parts)

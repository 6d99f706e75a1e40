"""The headless daemon: MQTT control and status, Home Assistant discovery, systemd.

Modules: ``settings`` (the config section, pydantic only), ``topics`` (topic names),
``payloads`` (versioned JSON payloads), ``commands`` (parsing and the rules a network command
passes before it reaches the controller), ``discovery`` (Home Assistant device discovery),
``sdnotify`` (systemd's notify protocol), ``bridge`` (the MQTT client loop with reconnect), and
``service`` (the daemon's main: device, controller, bridge, signals). Only ``bridge`` imports
aiomqtt, lazily. Nothing here imports Textual.
"""

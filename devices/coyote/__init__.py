"""DG-LAB Coyote 3.0 and 2.0: codecs (pure functions), waveform rendering and bleak drivers.

The public faces are :mod:`devices.coyote3` and :mod:`devices.coyote2`. Importing this
package is light: the drivers (which import bleak) load only when a device is opened.
"""

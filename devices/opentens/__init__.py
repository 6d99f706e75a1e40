"""The OpenTENS family: profile constants, the codec and the bleak driver.

Importing this package is light (no bleak): the driver module is loaded only when a device is
opened, through :data:`DRIVER_SPEC`'s factory.
"""

from __future__ import annotations

"""Simulated DG-LAB Coyote 3.0 and 2.0 stimulators on the virtual BLE radio.

Each model (:mod:`.model3`, :mod:`.model2`) is plain Python on the asyncio loop's clock and
behaves as the vendor documents say; :mod:`.gatt3` / :mod:`.gatt2` put it behind a bumble GATT
server; :mod:`.simulator` ties the two together with the delivered-output record and the fault
API. The decoders here (:mod:`.wire3`, :mod:`.wire2`) are the simulator's own, written from
../shared/design/protocols.md without importing ``devices/``: the published test vectors in
tests/coyote/ decide when the two sides disagree.

Heavy imports (bumble) happen only in the GATT modules.
"""

"""tens: an open, safety-first controller for TENS wearables.

The core package holds the domain (models, safety governor, sessions, journal,
controller). It imports no face framework (Textual, MQTT) and no BLE library at
module level; drivers and faces depend on it, never the other way round.
"""

__version__ = "0.1.0"

"""sonoran-bridge: moves Sonoran CAD dispatch calls on the live map to follow in-game subjects."""

__version__ = "0.1.0"

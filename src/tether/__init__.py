"""tether: one exact, verified, reproducible local ML model, from upstream checkpoint to vector."""

from __future__ import annotations

__version__ = "0.1.0"

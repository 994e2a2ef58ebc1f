"""Pure, versioned, immutable event contracts shared by every service. Imports no Django."""

__version__ = "1.0.0"

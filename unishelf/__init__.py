"""unishelf: standards-based protocol servers for library consortia."""

__version__ = "0.1.0"

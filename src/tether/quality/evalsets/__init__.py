"""tether's bundled evaluation set (package data; see README.md)."""

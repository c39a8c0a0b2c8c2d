"""Starter files written by `tether init` (package data: tether.toml, CI workflows)."""

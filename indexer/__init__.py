"""Turns a folder of files into Documents: discovery, decoding and format extraction."""

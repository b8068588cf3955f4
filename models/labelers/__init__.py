"""Attribute labelers: the black boxes, their exact torch ports, the distilled H, and the views labels average over."""

from . import decode_heads, functional, heads, irn, losses, segmentors  # noqa: F401

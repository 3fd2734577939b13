from . import (decode_heads, functional, heads, irn, losses,  # noqa: F401
               postprocess, segmentors, utils)

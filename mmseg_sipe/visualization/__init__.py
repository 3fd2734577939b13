"""Pictures people look at: CAM overlays and label palettes in one sheet."""
from .sheet import (cam_overlay, colorize_label, render_row, render_sheet,
                    save_sheet)

__all__ = ['cam_overlay', 'colorize_label', 'render_row', 'render_sheet',
           'save_sheet']

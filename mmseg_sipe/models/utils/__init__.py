from .memory_format import init_weights_nchw, to_channels_last

__all__ = ['to_channels_last', 'init_weights_nchw']

from .memory_format import ChannelsLastMixin, init_weights_nchw

__all__ = ['ChannelsLastMixin', 'init_weights_nchw']

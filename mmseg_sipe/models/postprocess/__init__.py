"""Test-time post-processing of stage-two predictions (dense CRF)."""
from .crf_encoder_decoder import (CRFEncoderDecoder, CRFSegTTAModel,
                                  crf_refine_logits, load_rgb_image,
                                  parse_crf_cfg)

__all__ = [
    'CRFEncoderDecoder', 'CRFSegTTAModel', 'crf_refine_logits',
    'load_rgb_image', 'parse_crf_cfg'
]

"""Shared multimodal Transformer backbone (image | audio | text -> encoder -> decoder/head).

Depends only on torch, timm and whisper; knows nothing about tasks.
"""

from zoo.config import PRESETS, ModelConfig, config_from_dict, config_to_dict, preset
from zoo.decoder import KVCache, TextDecoder
from zoo.embedders import log_mel
from zoo.generation import beam_search, greedy_search
from zoo.model import MultimodalModel, count_parameters
from zoo.tokenizers import ByteTokenizer, WhisperBPETokenizer, WordTokenizer, tokenizer_from_dict

__all__ = [
    "PRESETS",
    "ByteTokenizer",
    "KVCache",
    "ModelConfig",
    "MultimodalModel",
    "TextDecoder",
    "WhisperBPETokenizer",
    "WordTokenizer",
    "beam_search",
    "config_from_dict",
    "config_to_dict",
    "count_parameters",
    "greedy_search",
    "log_mel",
    "preset",
    "tokenizer_from_dict",
]

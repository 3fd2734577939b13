"""Registries used by mmseg_sipe.

Every component registers straight into mmsegmentation's registries (so
``default_scope='mmseg'`` configs and ``mim train mmsegmentation`` see them);
internal code imports the registries from here so that a later move to child
registries does not touch call sites.
"""
from mmseg.registry import (DATA_SAMPLERS, DATASETS, EVALUATOR, HOOKS, LOOPS,
                            METRICS, MODEL_WRAPPERS, MODELS,
                            OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS,
                            PARAM_SCHEDULERS, RUNNERS, TASK_UTILS, TRANSFORMS,
                            VISUALIZERS)

__all__ = [
    'DATA_SAMPLERS', 'DATASETS', 'EVALUATOR', 'HOOKS', 'LOOPS', 'METRICS',
    'MODEL_WRAPPERS', 'MODELS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'OPTIM_WRAPPERS',
    'PARAM_SCHEDULERS', 'RUNNERS', 'TASK_UTILS', 'TRANSFORMS', 'VISUALIZERS'
]

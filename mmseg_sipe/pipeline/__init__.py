"""Step 5: run the whole pipeline from one pipeline config."""
from .runner import STEPS, PipelineRunner, StepResult
from .summary import summarize

__all__ = ['PipelineRunner', 'StepResult', 'STEPS', 'summarize']

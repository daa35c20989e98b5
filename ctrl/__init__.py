"""ctrl: train code LLMs to critique and repair code (CTRL, RLEF) as cached, queryable stages.

Layers (imports point downward only): flows/ -> ctrl/ -> storage/, sandbox/.
"""

__version__ = "0.1.0"

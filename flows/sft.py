"""Stage ``sft`` as a Prefect task and flow (pipeline steps ``sft``).

Reads: critiques, problems, rollouts (by artifact key). Writes: a critic checkpoint (models/<key>) and sft_examples.
GPU stage: with ``gpu_pool`` set, the pipeline runs it as deployment
``ctrl-sft/gpu`` on that work pool; otherwise in the pipeline's own process.

Run alone (in-process): ``python -c "from flows.sft import sft; sft(step='sft', config={...}, keys={...})"``;
normally the ``ctrl`` pipeline flow (``flows/pipeline.py``) calls ``sft_task``.
"""

from flows.stage import stage_flow, stage_task

sft_task = stage_task("sft")
sft = stage_flow("sft", sft_task)

"""Stage ``revise`` as a Prefect task and flow (pipeline steps ``revise``).

Reads: critiques, problems, rollouts (by artifact key). Writes: revisions (generator revises given a critique).
GPU stage: with ``gpu_pool`` set, the pipeline runs it as deployment
``ctrl-revise/gpu`` on that work pool; otherwise in the pipeline's own process.

Run alone (in-process): ``python -c "from flows.revise import revise; revise(step='revise', config={...}, keys={...})"``;
normally the ``ctrl`` pipeline flow (``flows/pipeline.py``) calls ``revise_task``.
"""

from flows.stage import stage_flow, stage_task

revise_task = stage_task("revise")
revise = stage_flow("revise", revise_task)

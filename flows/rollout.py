"""Stage ``rollout`` as a Prefect task and flow (pipeline steps ``rollout`` and ``eval-rollout``).

Reads: problems (by artifact key). Writes: rollouts (generator samples).
GPU stage: with ``gpu_pool`` set, the pipeline runs it as deployment
``ctrl-rollout/gpu`` on that work pool; otherwise in the pipeline's own process.

Run alone (in-process): ``python -c "from flows.rollout import rollout; rollout(step='rollout', config={...}, keys={...})"``;
normally the ``ctrl`` pipeline flow (``flows/pipeline.py``) calls ``rollout_task``.
"""

from flows.stage import stage_flow, stage_task

rollout_task = stage_task("rollout")
rollout = stage_flow("rollout", rollout_task)

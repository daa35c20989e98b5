"""Stage ``critique`` as a Prefect task and flow (pipeline steps ``critique``).

Reads: rollouts, executions, problems (by artifact key). Writes: critiques (execution-guided synthesis).
GPU stage: with ``gpu_pool`` set, the pipeline runs it as deployment
``ctrl-critique/gpu`` on that work pool; otherwise in the pipeline's own process.

Run alone (in-process): ``python -c "from flows.critique import critique; critique(step='critique', config={...}, keys={...})"``;
normally the ``ctrl`` pipeline flow (``flows/pipeline.py``) calls ``critique_task``.
"""

from flows.stage import stage_flow, stage_task

critique_task = stage_task("critique")
critique = stage_flow("critique", critique_task)

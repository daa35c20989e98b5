"""Stage ``execute`` as a Prefect task and flow (pipeline steps ``execute`` and ``eval-execute``).

Reads: rollouts, problems (by artifact key). Writes: executions (sandbox verdicts per test set).
Runs in the pipeline's own process (CPU).

Run alone (in-process): ``python -c "from flows.execute import execute; execute(step='execute', config={...}, keys={...})"``;
normally the ``ctrl`` pipeline flow (``flows/pipeline.py``) calls ``execute_task``.
"""

from flows.stage import stage_flow, stage_task

execute_task = stage_task("execute")
execute = stage_flow("execute", execute_task)

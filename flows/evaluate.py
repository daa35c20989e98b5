"""Stage ``evaluate`` as a Prefect task and flow (pipeline steps ``base-eval`` (the untrained critic: the generator itself) and ``sft-eval`` (the SFT critic)).

Reads: problems, rollouts, executions, the SFT critic (by artifact key). Writes: eval_results (pass rates before/after critique, discrimination).
GPU stage: with ``gpu_pool`` set, the pipeline runs it as deployment
``ctrl-evaluate/gpu`` on that work pool; otherwise in the pipeline's own process.

Run alone (in-process): ``python -c "from flows.evaluate import evaluate; evaluate(step='sft-eval', config={...}, keys={...})"``;
normally the ``ctrl`` pipeline flow (``flows/pipeline.py``) calls ``evaluate_task``.
"""

from flows.stage import stage_flow, stage_task

evaluate_task = stage_task("evaluate")
evaluate = stage_flow("evaluate", evaluate_task)

"""Stage ``ingest`` as a Prefect task and flow (pipeline steps ``ingest`` and ``eval-ingest``).

Reads: benchmark files / hub datasets (by artifact key). Writes: problems.
Runs in the pipeline's own process (CPU).

Run alone (in-process): ``python -c "from flows.ingest import ingest; ingest(step='ingest', config={...}, keys={...})"``;
normally the ``ctrl`` pipeline flow (``flows/pipeline.py``) calls ``ingest_task``.
"""

from flows.stage import stage_flow, stage_task

ingest_task = stage_task("ingest")
ingest = stage_flow("ingest", ingest_task)

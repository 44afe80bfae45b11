"""The relay and the analysis in processes of their own: what ``muxscope proxy`` runs for users.

``runtime.py`` assembles the relay's process (the relay, the capture writer, ``/metrics``, the
shared-memory ring); ``supervisor.py`` starts, watches, restarts and stops the analysis process;
``analysis_process.py`` is that process's main loop (ring in; log events out; metrics and liveness
back). Nothing the analysis does, or fails to do, reaches the relay except through the ring,
which drops and counts rather than wait.
"""

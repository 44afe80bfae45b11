"""Analysis of the decoded wire: connections, RPC matching, pane structure, fetches.

Runs on the tap's worker thread, never on the relay's event loop. The pieces:

* :mod:`.connection`: per-connection decoding of both directions, with chunk
  timestamps and resynchronisation after dropped chunks.
* :mod:`.rpc`: request/response matching by serial, latency.
* :mod:`.panes`: pane/tab/window structure from ListPanesResponse and friends.
* :mod:`.analyzer`: the tap consumer that ties them to logs and metrics, and
  the addon interface later analyses (over-fetch attribution) plug into.
"""
